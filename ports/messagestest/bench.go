package messagestest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// benchText is a message of 140 characters, a typical length.
var benchText = strings.Repeat("a message of moderate length ", 5)[:140]

// Benchmark measures Add, List (a page of 50, first and deep) and Delete
// on the stores newStore returns (a fresh, empty one per benchmark).
// Stores for List hold 10,000 messages, as the load test's does.
func Benchmark(b *testing.B, newStore func(b *testing.B) ports.MessageStore) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var n int
	next := func() domain.Message { // a new message, newer than the last
		n++
		m, err := domain.NewMessage(fmt.Sprintf("%024x", n), domain.Principal{Issuer: issuerA, Subject: fmt.Sprint("user-", n%100)},
			benchText, t0.Add(time.Duration(n)*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	add := func(b *testing.B, s ports.MessageStore) domain.Message {
		m := next()
		if err := s.Add(ctx, m, noQuota); err != nil {
			b.Fatal(err)
		}
		return m
	}

	b.Run("Add", func(b *testing.B) {
		s := newStore(b)
		b.ReportAllocs()
		for b.Loop() {
			add(b, s)
		}
	})

	b.Run("List50", func(b *testing.B) {
		s := newStore(b)
		for range 10_000 {
			add(b, s)
		}
		mid, err := s.List(ctx, nil, 5000)
		if err != nil || len(mid) != 5000 {
			b.Fatalf("List: %d, %v", len(mid), err)
		}
		deep := mid[len(mid)-1].Key()
		for _, tc := range []struct {
			name  string
			after *domain.MessageKey
		}{{"first", nil}, {"after5000", &deep}} {
			b.Run(tc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					page, err := s.List(ctx, tc.after, 50)
					if err != nil || len(page) != 50 {
						b.Fatalf("List: %d, %v", len(page), err)
					}
				}
			})
		}
	})

	b.Run("Delete", func(b *testing.B) {
		s := newStore(b)
		var pending []domain.Message // added, not yet deleted: oldest first
		b.ReportAllocs()
		for b.Loop() {
			if len(pending) == 0 {
				b.StopTimer()
				for range 1000 {
					pending = append(pending, add(b, s))
				}
				b.StartTimer()
			}
			if err := s.Delete(ctx, pending[0].ID); err != nil {
				b.Fatal(err)
			}
			pending = pending[1:]
		}
	})
}
