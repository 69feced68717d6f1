// Package verifiertest is the contract every ports.TokenVerifier must meet.
// Each implementation's tests call Run with a Harness that can mint tokens
// for it; the same cases then run against the fake and the real adapters.
package verifiertest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Grant describes a token to mint.
type Grant struct {
	Subject string
	Scopes  []string
	// TTL is the lifetime from now; negative mints an expired token.
	TTL time.Duration
}

// Harness connects the contract to one implementation.
type Harness struct {
	// Verifier is the implementation under test.
	Verifier ports.TokenVerifier
	// Issuer and Audience are what accepted principals must report
	// (Audience "" for providers whose access tokens have no "aud").
	Issuer   string
	Audience string
	// Mint returns a token for g as the implementation's issuer would
	// produce it. Expired grants (TTL < 0) must still be well-formed.
	Mint func(t *testing.T, g Grant) string
}

// Run runs the contract against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	ctx := context.Background()

	t.Run("accepts a valid token and reports its principal", func(t *testing.T) {
		g := Grant{Subject: "auth0|alice", Scopes: []string{"read:messages", "write:messages"}, TTL: time.Hour}
		tok := h.Mint(t, g)
		p, err := h.Verifier.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("Verify: got error %v, want nil", err)
		}
		if p.Subject != g.Subject {
			t.Errorf("Subject: got %q, want %q", p.Subject, g.Subject)
		}
		if p.Issuer != h.Issuer {
			t.Errorf("Issuer: got %q, want %q", p.Issuer, h.Issuer)
		}
		if h.Audience != "" && !slices.Contains(p.Audiences, h.Audience) {
			t.Errorf("Audiences: got %q, want it to contain %q", p.Audiences, h.Audience)
		}
		if !slices.Equal(p.Scopes, g.Scopes) {
			t.Errorf("Scopes: got %q, want %q", p.Scopes, g.Scopes)
		}
		for _, s := range g.Scopes {
			if !p.HasScope(s) {
				t.Errorf("HasScope(%q): got false, want true", s)
			}
		}
		if d := time.Until(p.ExpiresAt); d < 58*time.Minute || d > 61*time.Minute {
			t.Errorf("ExpiresAt: got %v from now, want about 1h", d)
		}
	})

	t.Run("a token without scopes has none", func(t *testing.T) {
		p, err := h.Verifier.Verify(ctx, h.Mint(t, Grant{Subject: "auth0|bob", TTL: time.Hour}))
		if err != nil {
			t.Fatalf("Verify: got error %v, want nil", err)
		}
		if len(p.Scopes) != 0 || p.HasScope("read:messages") {
			t.Errorf("Scopes: got %q, want none", p.Scopes)
		}
	})

	t.Run("refuses an expired token", func(t *testing.T) {
		tok := h.Mint(t, Grant{Subject: "auth0|alice", Scopes: []string{"read:messages"}, TTL: -time.Hour})
		_, err := h.Verifier.Verify(ctx, tok)
		assertRefused(t, err, tok, domain.ReasonExpired)
	})

	t.Run("refuses a tampered token", func(t *testing.T) {
		tok := h.Mint(t, Grant{Subject: "auth0|alice", TTL: time.Hour})
		// Change one character of the signature, keeping it valid base64url.
		i := len(tok) - 10
		c := byte('A')
		if tok[i] == 'A' {
			c = 'B'
		}
		tampered := tok[:i] + string(c) + tok[i+1:]
		_, err := h.Verifier.Verify(ctx, tampered)
		assertRefused(t, err, tampered, "")
	})

	for _, garbage := range []string{"", "invalidToken", "invalidToken abc", "a.b.c", "...", strings.Repeat("A", 5000)} {
		t.Run("refuses garbage "+abbrev(garbage), func(t *testing.T) {
			_, err := h.Verifier.Verify(ctx, garbage)
			assertRefused(t, err, garbage, "")
		})
	}

	t.Run("is safe for concurrent use", func(t *testing.T) {
		good := h.Mint(t, Grant{Subject: "auth0|carol", Scopes: []string{"read:messages"}, TTL: time.Hour})
		bad := h.Mint(t, Grant{Subject: "auth0|carol", TTL: -time.Hour})
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, wantOK := good, true
				if i%2 == 1 {
					tok, wantOK = bad, false
				}
				p, err := h.Verifier.Verify(ctx, tok)
				switch {
				case wantOK && (err != nil || p.Subject != "auth0|carol"):
					errs <- errors.Join(errors.New("good token refused or wrong subject"), err)
				case !wantOK && !errors.Is(err, domain.ErrInvalidToken):
					errs <- errors.Join(errors.New("expired token not refused with ErrInvalidToken"), err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// assertRefused checks err is a *domain.TokenError (with reason want, when
// want is not empty) whose text does not reveal the token.
func assertRefused(t *testing.T, err error, token string, want domain.Reason) {
	t.Helper()
	if !errors.Is(err, domain.ErrInvalidToken) {
		t.Fatalf("Verify: got error %v, want one wrapping domain.ErrInvalidToken", err)
	}
	var te *domain.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("Verify: got error %T, want a *domain.TokenError in its chain", err)
	}
	if want != "" && te.Reason != want {
		t.Errorf("Reason: got %q, want %q", te.Reason, want)
	}
	if len(token) > 8 && strings.Contains(err.Error(), token) {
		t.Errorf("error text contains the token: %q", err.Error())
	}
}

func abbrev(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	if s == "" {
		return `""`
	}
	return s
}
