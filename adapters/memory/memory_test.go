package memory_test

import (
	"context"
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

func TestDropsTheOldestBeyondItsSize(t *testing.T) {
	ctx := context.Background()
	s := memory.NewMessagesOfSize(3)
	for _, id := range []string{"a", "b", "c", "d"} {
		m, _ := domain.NewMessage(id, "auth0|x", "hi", time.Now())
		if err := s.Add(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := s.List(ctx)
	if len(list) != 3 || list[0].ID != "d" || list[2].ID != "b" {
		t.Errorf("got %v, want d c b", list)
	}
	if _, err := s.Get(ctx, "a"); err == nil {
		t.Errorf("oldest message still there")
	}
}
