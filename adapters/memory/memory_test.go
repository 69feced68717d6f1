package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/messagestest"
)

func TestContract(t *testing.T) {
	messagestest.Run(t, func(*testing.T) ports.MessageStore { return memory.NewMessages() })
}

// A full store refuses new messages; it never drops anyone's to make room.
func TestRefusesBeyondItsSizeAndEvictsNothing(t *testing.T) {
	ctx := context.Background()
	s := memory.NewMessagesOfSize(3)
	now := time.Now()
	for i, sub := range []string{"a", "b", "c", "d"} {
		m, err := domain.NewMessage(fmt.Sprint(i), domain.Principal{Issuer: "https://i.example/", Subject: sub}, "hi", now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Add(ctx, m, 1000)
		var qe *domain.QuotaError
		switch {
		case i < 3 && err != nil:
			t.Fatalf("message %d: %v", i, err)
		case i == 3 && (!errors.As(err, &qe) || !qe.Total || qe.Limit != 3):
			t.Fatalf("message beyond the size: got %v, want a *QuotaError with Total and Limit 3", err)
		}
	}
	list, err := s.List(ctx, nil, 10)
	if err != nil || len(list) != 3 || list[0].ID != "2" || list[2].ID != "0" {
		t.Errorf("got %v, %v; want 2 1 0", list, err)
	}
	if err := s.Delete(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	m, err := domain.NewMessage("4", domain.Principal{Issuer: "https://i.example/", Subject: "d"}, "hi", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, m, 1000); err != nil {
		t.Errorf("after a delete there is room again: %v", err)
	}
}

func BenchmarkStore(b *testing.B) {
	messagestest.Benchmark(b, func(*testing.B) ports.MessageStore { return memory.NewMessagesOfSize(1 << 30) })
}
