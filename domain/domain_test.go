package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/example/spaapi/domain"
)

func TestPolicies(t *testing.T) {
	reader := domain.Principal{Scopes: []string{"openid", "read:messages"}}
	writer := domain.Principal{Scopes: []string{"write:messages"}}
	both := domain.Principal{Scopes: []string{"read:messages", "write:messages"}}
	none := domain.Principal{}
	shouty := domain.Principal{Scopes: []string{"READ:MESSAGES"}}

	for _, tc := range []struct {
		name   string
		policy domain.Policy
		p      domain.Principal
		allow  bool
	}{
		{"all-of one, has it", domain.AllScopes("read:messages"), reader, true},
		{"all-of one, lacks it", domain.AllScopes("read:messages"), writer, false},
		{"all-of one, no scopes", domain.AllScopes("read:messages"), none, false},
		{"all-of one, other case", domain.AllScopes("read:messages"), shouty, false},
		{"all-of two, has one", domain.AllScopes("read:messages", "write:messages"), reader, false},
		{"all-of two, has both", domain.AllScopes("read:messages", "write:messages"), both, true},
		{"all-of none allows all", domain.AllScopes(), none, true},
		{"any-of two, has one", domain.AnyScope("read:messages", "write:messages"), writer, true},
		{"any-of two, has neither", domain.AnyScope("read:messages", "write:messages"), none, false},
		{"any-of none allows no one", domain.AnyScope(), both, false},
		{"prefix is not a scope", domain.AllScopes("read"), reader, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(tc.p)
			if tc.allow {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, domain.ErrForbidden) || !errors.Is(err, domain.ErrInsufficientScope) {
				t.Fatalf("got %v, want ErrInsufficientScope and ErrForbidden", err)
			}
			var se *domain.ScopeError
			if !errors.As(err, &se) {
				t.Fatalf("got %T, want *ScopeError", err)
			}
		})
	}
}

func TestScopeErrorNamesScopes(t *testing.T) {
	var se *domain.ScopeError
	errors.As(domain.AllScopes("read:messages", "write:messages").Check(domain.Principal{}), &se)
	if se == nil || strings.Join(se.Scopes, " ") != "read:messages write:messages" || se.Any {
		t.Errorf("all-of: got %+v", se)
	}
	errors.As(domain.AnyScope("a", "b").Check(domain.Principal{}), &se)
	if se == nil || strings.Join(se.Scopes, " ") != "a b" || !se.Any {
		t.Errorf("any-of: got %+v", se)
	}
}

func TestPolicyKeepsItsOwnCopy(t *testing.T) {
	scopes := []string{"read:messages"}
	p := domain.AllScopes(scopes...)
	scopes[0] = "nothing"
	if err := p.Check(domain.Principal{Scopes: []string{"read:messages"}}); err != nil {
		t.Errorf("policy changed when the caller's slice changed: %v", err)
	}
}

func TestTokenError(t *testing.T) {
	cause := errors.New("token is expired")
	err := domain.InvalidToken(domain.ReasonExpired, cause)
	if !errors.Is(err, domain.ErrInvalidToken) || !errors.Is(err, cause) {
		t.Errorf("%v: want it to wrap ErrInvalidToken and its cause", err)
	}
	var te *domain.TokenError
	if !errors.As(err, &te) || te.Reason.Description() != "token expired" {
		t.Errorf("description: got %q, want %q", te.Reason.Description(), "token expired")
	}
	if d := domain.Reason("made-up").Description(); d != "invalid token" {
		t.Errorf("unknown reason description: got %q", d)
	}
	if !errors.Is(domain.InvalidToken(domain.ReasonMalformed, nil), domain.ErrInvalidToken) {
		t.Errorf("without a cause: want ErrInvalidToken")
	}
}

func TestEveryReasonHasADescription(t *testing.T) {
	for _, r := range []domain.Reason{
		domain.ReasonMalformed, domain.ReasonTooLarge, domain.ReasonAlgorithm, domain.ReasonType, domain.ReasonCritical,
		domain.ReasonUnknownKey, domain.ReasonSignature, domain.ReasonExpired, domain.ReasonNotYetValid,
		domain.ReasonIssuedInFuture, domain.ReasonIssuer, domain.ReasonAudience, domain.ReasonMissingClaim, domain.ReasonClaimType,
	} {
		if d := r.Description(); d == "invalid token" || d == "" {
			t.Errorf("reason %q has no description of its own", r)
		}
	}
}
