package fake_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/messagestest"
	"github.com/example/spaapi/ports/verifiertest"
)

func TestContract(t *testing.T) {
	v := fake.New()
	const iss, aud = "https://fake.example/", "https://api.example"
	var n atomic.Int64
	verifiertest.Run(t, verifiertest.Harness{
		Verifier: v,
		Issuer:   iss,
		Audience: aud,
		Mint: func(t *testing.T, g verifiertest.Grant) string {
			tok := fmt.Sprintf("fake-token-%d-%s", n.Add(1), strings.Repeat("x", 20))
			if g.TTL < 0 {
				v.Refuse(tok, domain.InvalidToken(domain.ReasonExpired, nil))
				return tok
			}
			v.Accept(tok, domain.Principal{
				Subject:   g.Subject,
				Issuer:    iss,
				Audiences: []string{aud},
				Scopes:    g.Scopes,
				ExpiresAt: time.Now().Add(g.TTL),
			})
			return tok
		},
	})
}

func TestNotReady(t *testing.T) {
	ctx := context.Background()
	v := fake.New()
	v.Accept("tok", domain.Principal{Subject: "s"})
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready: got %v, want nil", err)
	}
	v.SetReady(false)
	if err := v.Ready(ctx); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("Ready: got %v, want ErrUnavailable", err)
	}
	if _, err := v.Verify(ctx, "tok"); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("Verify known token while not ready: got %v, want ErrUnavailable", err)
	}
	if _, err := v.Verify(ctx, "garbage"); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("Verify garbage while not ready: got %v, want ErrInvalidToken", err)
	}
	v.SetReady(true)
	if p, err := v.Verify(ctx, "tok"); err != nil || p.Subject != "s" {
		t.Errorf("Verify after SetReady(true): got %+v, %v; want subject s", p, err)
	}
}

func TestMessagesContract(t *testing.T) {
	messagestest.Run(t, func(*testing.T) ports.MessageStore { return fake.NewMessages() })
}

func TestMessagesFail(t *testing.T) {
	m := fake.NewMessages()
	boom := errors.New("disk on fire")
	m.Fail(boom)
	if _, err := m.List(context.Background(), nil, 10); !errors.Is(err, boom) {
		t.Errorf("List: got %v, want the injected error", err)
	}
	if err := m.Ready(context.Background()); err != nil {
		t.Errorf("Ready with a failure that is not unavailability: got %v, want nil", err)
	}
	down := fmt.Errorf("fake: %w", domain.ErrUnavailable)
	m.Fail(down)
	if err := m.Ready(context.Background()); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("Ready while unavailable: got %v, want ErrUnavailable", err)
	}
	m.Fail(nil)
	if _, err := m.List(context.Background(), nil, 10); err != nil {
		t.Errorf("List after Fail(nil): %v", err)
	}
	if err := m.Ready(context.Background()); err != nil {
		t.Errorf("Ready after Fail(nil): %v", err)
	}
}
