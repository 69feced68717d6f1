package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	v := fake.New()
	alice := domain.Principal{Subject: "auth0|alice", Scopes: []string{"read:messages"}}
	v.Accept("good", alice)
	v.Refuse("expired", domain.InvalidToken(domain.ReasonExpired, nil))
	v.Refuse("broken-adapter", errors.New("connection reset"))
	a := app.NewAuth(v)

	if p, err := a.Authenticate(ctx, "good"); err != nil || p.Subject != "auth0|alice" {
		t.Errorf("good token: got %+v, %v", p, err)
	}
	if _, err := a.Authenticate(ctx, ""); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Errorf("empty token: got %v, want ErrUnauthenticated", err)
	}
	if _, err := a.Authenticate(ctx, "expired"); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("expired: got %v, want ErrInvalidToken", err)
	}
	// An adapter error outside the port's contract fails closed as a refused token.
	if _, err := a.Authenticate(ctx, "broken-adapter"); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("unexpected adapter error: got %v, want ErrInvalidToken", err)
	}
	v.SetReady(false)
	if _, err := a.Authenticate(ctx, "good"); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("not ready: got %v, want ErrUnavailable", err)
	}
}

func TestAuthorize(t *testing.T) {
	a := app.NewAuth(fake.New())
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
	got := app.NewMessages(memory.NewMessages()).Me(context.Background(), domain.Principal{Subject: "s", ExpiresAt: exp})
	if got.Subject != "s" || !got.ExpiresAt.Equal(exp) || got.ExpiresAt.Location() != time.UTC {
		t.Errorf("got %+v", got)
	}
	if got.Scopes == nil || got.Audience == nil || got.Permissions == nil {
		t.Errorf("empty lists must be [] in JSON, not null: %+v", got)
	}
}

func TestHealth(t *testing.T) {
	v := fake.New()
	h := app.NewHealth(v)
	if err := h.Ready(context.Background()); err != nil {
		t.Errorf("got %v, want ready", err)
	}
	v.SetReady(false)
	if err := h.Ready(context.Background()); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
}

func TestMessagesService(t *testing.T) {
	ctx := context.Background()
	store := fake.NewMessages()
	m := app.NewMessages(store)
	alice := domain.Principal{Subject: "auth0|alice"}
	bob := domain.Principal{Subject: "auth0|bob"}
	mod := domain.Principal{Subject: "auth0|mod", Permissions: []string{"delete:messages"}}

	first, err := m.Post(ctx, alice, "hello")
	if err != nil || first.Author != "auth0|alice" || first.ID == "" {
		t.Fatalf("Post: %+v, %v", first, err)
	}
	second, _ := m.Post(ctx, bob, "hi")
	if first.ID == second.ID {
		t.Errorf("two messages share id %s", first.ID)
	}
	if _, err := m.Post(ctx, alice, ""); !errors.Is(err, domain.ErrInvalidInput) {
		t.Errorf("empty text: got %v, want ErrInvalidInput", err)
	}
	list, err := m.List(ctx, bob)
	if err != nil || len(list) != 2 || list[0].ID != second.ID {
		t.Errorf("List: %+v, %v", list, err)
	}
	if err := m.Delete(ctx, bob, first.ID); !errors.Is(err, domain.ErrInsufficientScope) {
		t.Errorf("bob deleting alice's: got %v, want ErrInsufficientScope", err)
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
	if _, err := m.List(ctx, alice); err == nil || errors.Is(err, domain.ErrNotFound) {
		t.Errorf("store failure: got %v", err)
	}
}
