// Package messagestest is the contract every ports.MessageStore must meet.
// Each store's tests call Run with a function that returns a fresh, empty
// store: adapters/memory, adapters/sqlite (a file), adapters/postgres (a
// real server) and adapters/fake.
package messagestest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Issuers and subjects of the messages the contract stores.
const (
	issuerA = "https://a.example/"
	issuerB = "https://b.example/"
)

// noQuota is a per-author limit no case reaches.
const noQuota = 1 << 30

// base is the time of the first message; later ones are a second apart.
var base = time.Date(2030, 5, 6, 7, 8, 9, 123456000, time.UTC)

// message returns a valid message by sub at issuer, created at.
func message(t *testing.T, id, issuer, sub string, at time.Time) domain.Message {
	t.Helper()
	m, err := domain.NewMessage(id, domain.Principal{Issuer: issuer, Subject: sub}, "hello from "+sub, at)
	if err != nil {
		t.Fatalf("NewMessage: %v", err)
	}
	return m
}

// add stores m with no quota in reach, failing t on error.
func add(t *testing.T, s ports.MessageStore, m domain.Message) {
	t.Helper()
	if err := s.Add(context.Background(), m, noQuota); err != nil {
		t.Fatalf("Add %s: %v", m.ID, err)
	}
}

// pages lists the store's messages limit at a time, each page after the
// last message of the one before, and returns their IDs page by page.
func pages(t *testing.T, s ports.MessageStore, limit int) [][]string {
	t.Helper()
	var out [][]string
	var after *domain.MessageKey
	for range 1000 {
		list, err := s.List(context.Background(), after, limit)
		if err != nil {
			t.Fatalf("List after %v: %v", after, err)
		}
		if len(list) > limit {
			t.Fatalf("List with limit %d gave %d messages", limit, len(list))
		}
		if len(list) == 0 {
			return out
		}
		var ids []string
		for _, m := range list {
			ids = append(ids, m.ID)
		}
		out = append(out, ids)
		k := list[len(list)-1].Key()
		after = &k
	}
	t.Fatal("List never reached the end")
	return nil
}

// Run runs the contract against the stores newStore returns: a fresh,
// empty store for every call.
func Run(t *testing.T, newStore func(t *testing.T) ports.MessageStore) {
	t.Helper()
	ctx := context.Background()

	t.Run("is ready", func(t *testing.T) {
		if err := newStore(t).Ready(ctx); err != nil {
			t.Errorf("Ready: got %v, want nil", err)
		}
	})

	t.Run("keeps every field", func(t *testing.T) {
		s := newStore(t)
		text := "héllo, wörld 👋\n\tsecond line " + strings.Repeat("ü", 450)
		want, err := domain.NewMessage("abc123", domain.Principal{Issuer: issuerA, Subject: "auth0|ann"}, text, base)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add(ctx, want, noQuota); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "abc123")
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, nil, 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("List: got %v, %v; want one message", list, err)
		}
		for name, got := range map[string]domain.Message{"Get": got, "List": list[0]} {
			if got.ID != want.ID || got.Author != want.Author || got.AuthorIssuer != want.AuthorIssuer || got.Text != want.Text {
				t.Errorf("%s: got %+v, want %+v", name, got, want)
			}
			if !got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
				t.Errorf("%s: CreatedAt got %v (%v), want %v in UTC", name, got.CreatedAt, got.CreatedAt.Location(), want.CreatedAt)
			}
		}
	})

	t.Run("lists newest first", func(t *testing.T) {
		s := newStore(t)
		for i, id := range []string{"a", "b", "c"} {
			add(t, s, message(t, id, issuerA, "auth0|"+id, base.Add(time.Duration(i)*time.Second)))
		}
		if got := fmt.Sprint(pages(t, s, 10)); got != "[[c b a]]" {
			t.Errorf("got %s, want [[c b a]]", got)
		}
	})

	t.Run("an empty list is empty, not an error", func(t *testing.T) {
		list, err := newStore(t).List(ctx, nil, 50)
		if err != nil || len(list) != 0 {
			t.Errorf("got %v, %v; want nothing", list, err)
		}
	})

	t.Run("pages by key", func(t *testing.T) {
		s := newStore(t)
		// Inserted out of order: the order is by time, not by insertion.
		for _, i := range []int{3, 0, 6, 1, 5, 2, 4} {
			add(t, s, message(t, fmt.Sprintf("m%d", i), issuerA, "auth0|x", base.Add(time.Duration(i)*time.Minute)))
		}
		if got, want := fmt.Sprint(pages(t, s, 3)), "[[m6 m5 m4] [m3 m2 m1] [m0]]"; got != want {
			t.Errorf("limit 3: got %s, want %s", got, want)
		}
		if got, want := fmt.Sprint(pages(t, s, 1)), "[[m6] [m5] [m4] [m3] [m2] [m1] [m0]]"; got != want {
			t.Errorf("limit 1: got %s, want %s", got, want)
		}
		if got, want := fmt.Sprint(pages(t, s, 7)), "[[m6 m5 m4 m3 m2 m1 m0]]"; got != want {
			t.Errorf("limit 7: got %s, want %s", got, want)
		}
	})

	t.Run("messages of the same microsecond are ordered by id", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"c", "a", "e", "b", "d"} {
			add(t, s, message(t, id, issuerA, "auth0|x", base))
		}
		add(t, s, message(t, "z", issuerA, "auth0|x", base.Add(-time.Microsecond)))
		add(t, s, message(t, "0", issuerA, "auth0|x", base.Add(time.Microsecond)))
		if got, want := fmt.Sprint(pages(t, s, 2)), "[[0 e] [d c] [b a] [z]]"; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})

	t.Run("a page after a deleted message goes on where it was", func(t *testing.T) {
		s := newStore(t)
		for i := range 4 {
			add(t, s, message(t, fmt.Sprintf("m%d", i), issuerA, "auth0|x", base.Add(time.Duration(i)*time.Second)))
		}
		first, err := s.List(ctx, nil, 2)
		if err != nil || len(first) != 2 {
			t.Fatalf("first page: %v, %v", first, err)
		}
		if err := s.Delete(ctx, first[1].ID); err != nil {
			t.Fatal(err)
		}
		k := first[1].Key()
		rest, err := s.List(ctx, &k, 10)
		if err != nil || len(rest) != 2 || rest[0].ID != "m1" || rest[1].ID != "m0" {
			t.Errorf("after deleted m2: got %v, %v; want m1 m0", rest, err)
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
		add(t, s, message(t, "a", issuerA, "auth0|a", base))
		add(t, s, message(t, "b", issuerA, "auth0|a", base.Add(time.Second)))
		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "a"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "a"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("second Delete: got %v, want ErrNotFound", err)
		}
		if got := fmt.Sprint(pages(t, s, 10)); got != "[[b]]" {
			t.Errorf("List after Delete: got %s, want [[b]]", got)
		}
	})

	t.Run("refuses a duplicate id", func(t *testing.T) {
		s := newStore(t)
		add(t, s, message(t, "a", issuerA, "auth0|a", base))
		if err := s.Add(ctx, message(t, "a", issuerA, "auth0|b", base.Add(time.Second)), noQuota); err == nil {
			t.Errorf("duplicate id accepted")
		}
		if got, err := s.Get(ctx, "a"); err != nil || got.Author != "auth0|a" {
			t.Errorf("after a duplicate Add: got %+v, %v; want auth0|a's message", got, err)
		}
	})

	t.Run("quota per author, who is issuer and subject together", func(t *testing.T) {
		s := newStore(t)
		for i := range 3 {
			if err := s.Add(ctx, message(t, fmt.Sprintf("a%d", i), issuerA, "ann", base.Add(time.Duration(i)*time.Second)), 3); err != nil {
				t.Fatalf("message %d of 3: %v", i+1, err)
			}
		}
		err := s.Add(ctx, message(t, "a3", issuerA, "ann", base.Add(time.Hour)), 3)
		var qe *domain.QuotaError
		if !errors.As(err, &qe) || !errors.Is(err, domain.ErrQuotaExceeded) || qe.Limit != 3 || qe.Total {
			t.Fatalf("fourth message: got %v, want a *QuotaError with Limit 3", err)
		}
		if _, err := s.Get(ctx, "a3"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("the refused message was stored: %v", err)
		}
		// The same subject at another issuer, and another subject at the
		// same issuer, are other authors.
		if err := s.Add(ctx, message(t, "b0", issuerB, "ann", base.Add(time.Hour)), 3); err != nil {
			t.Errorf("same sub, other issuer: %v", err)
		}
		if err := s.Add(ctx, message(t, "c0", issuerA, "bob", base.Add(time.Hour)), 3); err != nil {
			t.Errorf("other sub, same issuer: %v", err)
		}
		// Nothing was evicted, and deleting one makes room for one.
		if got, want := fmt.Sprint(pages(t, s, 10)), "[[c0 b0 a2 a1 a0]]"; got != want {
			t.Errorf("List: got %s, want %s", got, want)
		}
		if err := s.Delete(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(ctx, message(t, "a4", issuerA, "ann", base.Add(2*time.Hour)), 3); err != nil {
			t.Errorf("after deleting one: %v", err)
		}
		if err := s.Add(ctx, message(t, "a5", issuerA, "ann", base.Add(3*time.Hour)), 3); !errors.Is(err, domain.ErrQuotaExceeded) {
			t.Errorf("full again: got %v, want ErrQuotaExceeded", err)
		}
	})

	t.Run("the quota holds against concurrent posts", func(t *testing.T) {
		s := newStore(t)
		const limit, posters = 10, 16
		for round, sub := range []string{"ann", "bob", "cat"} {
			for i := range limit - 1 {
				if err := s.Add(ctx, message(t, fmt.Sprintf("%s-%d", sub, i), issuerA, sub, base.Add(time.Duration(i)*time.Second)), limit); err != nil {
					t.Fatal(err)
				}
			}
			// limit-1 stored: of posters concurrent posts, exactly one fits.
			msgs := make([]domain.Message, posters)
			for g := range posters {
				msgs[g] = message(t, fmt.Sprintf("%s-race-%d", sub, g), issuerA, sub, base.Add(time.Hour))
			}
			var wg sync.WaitGroup
			errs := make([]error, posters)
			start := make(chan struct{})
			for g := range posters {
				wg.Go(func() {
					<-start
					errs[g] = s.Add(ctx, msgs[g], limit)
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, domain.ErrQuotaExceeded):
					t.Errorf("round %d: got %v, want nil or ErrQuotaExceeded", round, err)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d of %d concurrent posts at %d/%d succeeded, want exactly 1", round, ok, posters, limit-1, limit)
			}
		}
		n := 0
		for _, p := range pages(t, s, 100) {
			n += len(p)
		}
		if n != 3*limit {
			t.Errorf("stored %d messages, want %d", n, 3*limit)
		}
	})

	t.Run("is safe for concurrent use", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 25 {
					id := fmt.Sprintf("%d-%d", g, i)
					m, err := domain.NewMessage(id, domain.Principal{Issuer: issuerA, Subject: "x"}, "hi", base.Add(time.Duration(i)*time.Millisecond))
					if err != nil {
						t.Error(err)
						return
					}
					if err := s.Add(ctx, m, noQuota); err != nil {
						t.Errorf("Add %s: %v", id, err)
						return
					}
					if _, err := s.List(ctx, nil, 10); err != nil {
						t.Errorf("List: %v", err)
						return
					}
					if i%2 == 0 {
						if err := s.Delete(ctx, id); err != nil {
							t.Errorf("Delete %s: %v", id, err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		n := 0
		for _, p := range pages(t, s, 100) {
			n += len(p)
		}
		if n != 8*12 {
			t.Errorf("got %d messages, want %d", n, 8*12)
		}
	})
}
