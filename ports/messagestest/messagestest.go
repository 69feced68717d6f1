// Package messagestest is the contract every ports.MessageStore must meet.
package messagestest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Run runs the contract against the stores newStore returns (a fresh,
// empty one per case).
func Run(t *testing.T, newStore func(t *testing.T) ports.MessageStore) {
	t.Helper()
	ctx := context.Background()
	msg := func(id, author string) domain.Message {
		m, err := domain.NewMessage(id, author, "hello from "+author, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("adds, gets and lists newest first", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"a", "b", "c"} {
			if err := s.Add(ctx, msg(id, "auth0|"+id)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, "b")
		if err != nil || got.Author != "auth0|b" || got.Text != "hello from auth0|b" {
			t.Errorf("Get b: got %+v, %v", got, err)
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range list {
			ids = append(ids, m.ID)
		}
		if fmt.Sprint(ids) != "[c b a]" {
			t.Errorf("List: got %v, want [c b a]", ids)
		}
	})

	t.Run("empty list is empty, not an error", func(t *testing.T) {
		list, err := newStore(t).List(ctx)
		if err != nil || len(list) != 0 {
			t.Errorf("got %v, %v", list, err)
		}
	})

	t.Run("unknown ids are ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Get: got %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "nope"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Delete: got %v, want ErrNotFound", err)
		}
	})

	t.Run("deletes once", func(t *testing.T) {
		s := newStore(t)
		s.Add(ctx, msg("a", "auth0|a"))
		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "a"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "a"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("second Delete: got %v, want ErrNotFound", err)
		}
		if list, _ := s.List(ctx); len(list) != 0 {
			t.Errorf("List after Delete: got %v", list)
		}
	})

	t.Run("refuses a duplicate id", func(t *testing.T) {
		s := newStore(t)
		s.Add(ctx, msg("a", "auth0|a"))
		if err := s.Add(ctx, msg("a", "auth0|b")); err == nil {
			t.Errorf("duplicate id accepted")
		}
		if got, _ := s.Get(ctx, "a"); got.Author != "auth0|a" {
			t.Errorf("duplicate Add changed the message: %+v", got)
		}
	})

	t.Run("is safe for concurrent use", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					id := fmt.Sprintf("%d-%d", g, i)
					if err := s.Add(ctx, msg(id, "auth0|x")); err != nil {
						t.Error(err)
						return
					}
					s.List(ctx)
					if i%2 == 0 {
						if err := s.Delete(ctx, id); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		if list, _ := s.List(ctx); len(list) != 8*25 {
			t.Errorf("got %d messages, want %d", len(list), 8*25)
		}
	})
}
