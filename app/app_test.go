package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	v := fake.New()
	alice := domain.Principal{Subject: "auth0|alice", Scopes: []string{"read:messages"}}
	v.Accept("good", alice)
	v.Refuse("expired", domain.InvalidToken(domain.ReasonExpired, nil))
	v.Refuse("broken-adapter", errors.New("connection reset"))
	a := app.NewAuth(v, nil, app.DPoPDisabled, nil)

	if p, err := a.Authenticate(ctx, bearer("good")); err != nil || p.Subject != "auth0|alice" {
		t.Errorf("good token: got %+v, %v", p, err)
	}
	if _, err := a.Authenticate(ctx, bearer("")); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Errorf("empty token: got %v, want ErrUnauthenticated", err)
	}
	if _, err := a.Authenticate(ctx, bearer("expired")); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("expired: got %v, want ErrInvalidToken", err)
	}
	// An adapter error outside the port's contract fails closed as a refused token.
	if _, err := a.Authenticate(ctx, bearer("broken-adapter")); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("unexpected adapter error: got %v, want ErrInvalidToken", err)
	}
	v.SetReady(false)
	_, err := a.Authenticate(ctx, bearer("good"))
	var ue *domain.UnavailableError
	if !errors.Is(err, domain.ErrUnavailable) || !errors.As(err, &ue) || ue.What != "the token signing keys" {
		t.Errorf("not ready: got %v, want an *UnavailableError naming the token signing keys", err)
	}
}

func bearer(token string) app.Credentials {
	return app.Credentials{Scheme: app.SchemeBearer, Token: token}
}

// replayStore is a replay cache whose store can be down.
type replayStore struct {
	ports.ReplayCache
	down error
}

func (r *replayStore) Ready(context.Context) error { return r.down }

func TestAuthorize(t *testing.T) {
	a := app.NewAuth(fake.New(), nil, app.DPoPDisabled, nil)
	ctx := context.Background()
	p := domain.Principal{Scopes: []string{"read:messages"}}
	if err := a.Authorize(ctx, p, domain.AllScopes("read:messages")); err != nil {
		t.Errorf("got %v, want allowed", err)
	}
	if err := a.Authorize(ctx, p, domain.AllScopes("write:messages")); !errors.Is(err, domain.ErrInsufficientScope) {
		t.Errorf("got %v, want ErrInsufficientScope", err)
	}
}

func TestMe(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	got := app.NewMessages(memory.NewMessages(), app.DefaultMessageQuota).Me(context.Background(), domain.Principal{Subject: "s", ExpiresAt: exp})
	if got.Subject != "s" || !got.ExpiresAt.Equal(exp) || got.ExpiresAt.Location() != time.UTC {
		t.Errorf("got %+v", got)
	}
	if got.Scopes == nil || got.Audience == nil || got.Permissions == nil {
		t.Errorf("empty lists must be [] in JSON, not null: %+v", got)
	}
}

func TestHealth(t *testing.T) {
	v := fake.New()
	store := fake.NewMessages()
	replay := &replayStore{ReplayCache: memory.NewReplayCache(64, ports.ReplayShares{}, nil)}
	h := app.NewHealth(v, ports.Stores{Database: store, Messages: store}, replay)
	if err := h.Ready(context.Background()); err != nil {
		t.Errorf("got %v, want ready", err)
	}
	// Each missing dependency is named, in fixed words a client may see.
	down := fmt.Errorf("fake: %w: connection refused", domain.ErrUnavailable)
	for _, tc := range []struct {
		keys, store, replay bool
		want                string
	}{
		{false, true, true, "the token signing keys"},
		{true, false, true, "the database"},
		{true, true, false, "the DPoP replay store"},
		{false, false, true, "the token signing keys and the database"},
		{false, false, false, "the token signing keys and the database and the DPoP replay store"},
	} {
		v.SetReady(tc.keys)
		store.Fail(nil)
		if !tc.store {
			store.Fail(down)
		}
		replay.down = nil
		if !tc.replay {
			replay.down = down
		}
		err := h.Ready(context.Background())
		var ue *domain.UnavailableError
		if !errors.As(err, &ue) || !errors.Is(err, domain.ErrUnavailable) || ue.What != tc.want {
			t.Errorf("keys %v, store %v, replay %v: got %v, want a *UnavailableError naming %q", tc.keys, tc.store, tc.replay, err, tc.want)
		}
	}

	// A dependency that says what it waits for (an introspection endpoint
	// refusing the API's credentials) is named in its own words.
	store.Fail(nil)
	replay.down = nil
	named := &namedReadiness{err: &domain.UnavailableError{What: "the token introspection endpoint", Cause: down}}
	err := app.NewHealth(named, ports.Stores{Database: store, Messages: store}, replay).Ready(context.Background())
	var ue *domain.UnavailableError
	if !errors.As(err, &ue) || ue.What != "the token introspection endpoint" {
		t.Errorf("got %v, want a *UnavailableError naming the token introspection endpoint", err)
	}
}

type namedReadiness struct{ err error }

func (n *namedReadiness) Ready(context.Context) error { return n.err }

func TestMessagesService(t *testing.T) {
	ctx := context.Background()
	store := fake.NewMessages()
	m := app.NewMessages(store, 3)
	rw := []string{"read:messages", "write:messages"}
	alice := domain.Principal{Issuer: "https://one.example/", Subject: "auth0|alice", Scopes: rw}
	// The same subject from another issuer is someone else.
	mallory := domain.Principal{Issuer: "https://two.example/", Subject: "auth0|alice", Scopes: rw}
	bob := domain.Principal{Issuer: "https://one.example/", Subject: "auth0|bob", Scopes: rw}
	mod := domain.Principal{Issuer: "https://one.example/", Subject: "auth0|mod", Scopes: []string{"delete:messages"}}
	// alice's own client, granted read:messages only, erases nothing.
	aliceReading := domain.Principal{Issuer: "https://one.example/", Subject: "auth0|alice", Scopes: []string{"read:messages"}}

	first, err := m.Post(ctx, alice, "hello")
	if err != nil || first.Author != "auth0|alice" || first.AuthorIssuer != "https://one.example/" || first.ID == "" {
		t.Fatalf("Post: %+v, %v", first, err)
	}
	second, err := m.Post(ctx, bob, "hi")
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if first.ID == second.ID {
		t.Errorf("two messages share id %s", first.ID)
	}
	if _, err := m.Post(ctx, alice, ""); !errors.Is(err, domain.ErrInvalidInput) {
		t.Errorf("empty text: got %v, want ErrInvalidInput", err)
	}
	page, err := m.List(ctx, bob, nil, 10)
	if err != nil || len(page.Messages) != 2 || page.Messages[0].ID != second.ID || page.Next != nil {
		t.Errorf("List: %+v, %v; want 2 messages, no next page", page, err)
	}
	if err := m.Delete(ctx, bob, first.ID); !errors.Is(err, domain.ErrInsufficientScope) {
		t.Errorf("bob deleting alice's: got %v, want ErrInsufficientScope", err)
	}
	if err := m.Delete(ctx, mallory, first.ID); !errors.Is(err, domain.ErrInsufficientScope) {
		t.Errorf("alice's subject from another issuer deleting hers: got %v, want ErrInsufficientScope", err)
	}
	if err := m.Delete(ctx, aliceReading, first.ID); !errors.Is(err, domain.ErrInsufficientScope) {
		t.Errorf("alice deleting hers without write:messages: got %v, want ErrInsufficientScope", err)
	}
	if err := m.Delete(ctx, alice, first.ID); err != nil {
		t.Errorf("alice deleting hers: %v", err)
	}
	if err := m.Delete(ctx, mod, second.ID); err != nil {
		t.Errorf("moderator deleting bob's: %v", err)
	}
	if err := m.Delete(ctx, alice, "nope"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("unknown id: got %v, want ErrNotFound", err)
	}
	store.Fail(errors.New("down"))
	if _, err := m.List(ctx, alice, nil, 10); err == nil || errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("store failure: got %v, want an internal error", err)
	}
	store.Fail(fmt.Errorf("fake: %w: connection refused", domain.ErrUnavailable))
	_, err = m.Post(ctx, alice, "hello")
	var ue *domain.UnavailableError
	if !errors.As(err, &ue) || ue.What != "the database" {
		t.Errorf("store unreachable: got %v, want an *UnavailableError naming the database", err)
	}
}

func TestMessagesPages(t *testing.T) {
	ctx := context.Background()
	m := app.NewMessages(fake.NewMessages(), 100)
	alice := domain.Principal{Issuer: "https://one.example/", Subject: "auth0|alice"}
	var keys []domain.MessageKey
	for i := range 5 {
		msg, err := m.Post(ctx, alice, fmt.Sprint("message ", i))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, msg.Key())
	}
	// Newest first, as domain.MessageKey orders them: posts in the same
	// microsecond are ordered by ID, not by when they were posted.
	slices.SortFunc(keys, func(a, b domain.MessageKey) int {
		if a.Before(b) {
			return -1
		}
		return 1
	})
	var posted []string
	for _, k := range keys {
		posted = append(posted, k.ID)
	}
	var got []string
	var after *domain.MessageKey
	for range 10 {
		page, err := m.List(ctx, alice, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range page.Messages {
			got = append(got, msg.ID)
		}
		if page.Next == nil {
			break
		}
		if last := page.Messages[len(page.Messages)-1]; *page.Next != last.Key() {
			t.Errorf("Next: got %v, want the last message's key %v", *page.Next, last.Key())
		}
		after = page.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(posted) {
		t.Errorf("pages of 2: got %v, want %v", got, posted)
	}
	// Exactly a page's worth: no next page.
	if page, err := m.List(ctx, alice, nil, 5); err != nil || len(page.Messages) != 5 || page.Next != nil {
		t.Errorf("limit 5 of 5: got %d messages, next %v, %v; want 5 and no next", len(page.Messages), page.Next, err)
	}
	for _, limit := range []int{0, -1, app.MaxPageSize + 1} {
		if _, err := m.List(ctx, alice, nil, limit); !errors.Is(err, domain.ErrInvalidInput) {
			t.Errorf("limit %d: got %v, want ErrInvalidInput", limit, err)
		}
	}
}

func TestMessagesQuota(t *testing.T) {
	ctx := context.Background()
	m := app.NewMessages(fake.NewMessages(), 2)
	alice := domain.Principal{Issuer: "https://one.example/", Subject: "auth0|alice", Scopes: []string{"write:messages"}}
	bob := domain.Principal{Issuer: "https://one.example/", Subject: "auth0|bob"}
	a1, err := m.Post(ctx, alice, "one")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Post(ctx, alice, "two"); err != nil {
		t.Fatal(err)
	}
	_, err = m.Post(ctx, alice, "three")
	var qe *domain.QuotaError
	if !errors.As(err, &qe) || qe.Limit != 2 {
		t.Fatalf("third: got %v, want a *QuotaError with Limit 2", err)
	}
	if _, err := m.Post(ctx, bob, "bob's first"); err != nil {
		t.Errorf("another author: %v", err)
	}
	if err := m.Delete(ctx, alice, a1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Post(ctx, alice, "three, again"); err != nil {
		t.Errorf("after deleting one: %v", err)
	}
}
