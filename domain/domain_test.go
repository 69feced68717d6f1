package domain_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

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
		domain.ReasonInactive, domain.ReasonConfirmation, domain.ReasonCertificateMissing, domain.ReasonCertificateMismatch,
	} {
		if d := r.Description(); d == "invalid token" || d == "" {
			t.Errorf("reason %q has no description of its own", r)
		}
	}
}

func TestCombinators(t *testing.T) {
	admin := domain.Principal{
		Subject: "auth0|admin", Scopes: []string{"read:messages"}, Permissions: []string{"delete:messages"},
		Roles: []string{"admin", "editor"},
		Claims: map[string]any{
			"org_id": "acme", "https://example.com/plan": "pro", "amr": []any{"pwd", "mfa"},
			"realm_access": map[string]any{"roles": []any{"admin"}}, "level": 3.0,
		},
	}
	guest := domain.Principal{Subject: "auth0|guest", Claims: map[string]any{"org_id": "other"}}
	isAdminSubject := func(p domain.Principal) bool { return p.Subject == "auth0|admin" }

	type want int
	const (
		allow  want = iota
		scope       // *ScopeError
		denied      // *DeniedError
	)
	for _, tc := range []struct {
		name   string
		policy domain.Policy
		p      domain.Principal
		want   want
	}{
		{"all permissions, held", domain.AllPermissions("delete:messages"), admin, allow},
		{"all permissions, a scope is not a permission", domain.AllPermissions("read:messages"), admin, scope},
		{"any permission, none held", domain.AnyPermission("a", "b"), guest, scope},
		{"any role, held", domain.AnyRole("viewer", "editor"), admin, allow},
		{"any role, not held", domain.AnyRole("admin"), guest, denied},
		{"all roles, held", domain.AllRoles("admin", "editor"), admin, allow},
		{"all roles, one missing", domain.AllRoles("admin", "owner"), admin, denied},
		{"claim equals", domain.ClaimEquals("org_id", "acme"), admin, allow},
		{"claim equals, other value", domain.ClaimEquals("org_id", "acme"), guest, denied},
		{"claim equals, absent", domain.ClaimEquals("tenant", "acme"), admin, denied},
		{"claim equals, a number is not a string", domain.ClaimEquals("level", "3"), admin, denied},
		{"claim equals, namespaced name with dots", domain.ClaimEquals("https://example.com/plan", "pro"), admin, allow},
		{"claim includes, array", domain.ClaimIncludes("amr", "mfa"), admin, allow},
		{"claim includes, nested path", domain.ClaimIncludes("realm_access.roles", "admin"), admin, allow},
		{"claim includes, string", domain.ClaimIncludes("org_id", "acme"), admin, allow},
		{"claim includes, missing element", domain.ClaimIncludes("amr", "hwk"), admin, denied},
		{"require, true", domain.Require("the admin subject", isAdminSubject), admin, allow},
		{"require, false", domain.Require("the admin subject", isAdminSubject), guest, denied},
		{"and, all allow", domain.And(domain.AllScopes("read:messages"), domain.AnyRole("admin")), admin, allow},
		{"and, first refuses", domain.And(domain.AllScopes("write:messages"), domain.AnyRole("admin")), admin, scope},
		{"and, second refuses", domain.And(domain.AllScopes("read:messages"), domain.AnyRole("owner")), admin, denied},
		{"and of nothing", domain.And(), guest, allow},
		{"or, second allows", domain.Or(domain.AnyRole("owner"), domain.AllPermissions("delete:messages")), admin, allow},
		{"or of scopes, none held", domain.Or(domain.AllScopes("a"), domain.AnyScope("b", "c")), guest, scope},
		{"or of scope and role, none held", domain.Or(domain.AllScopes("a"), domain.AnyRole("admin")), guest, denied},
		{"or of nothing", domain.Or(), admin, denied},
		{"nested", domain.Or(domain.And(domain.AnyRole("admin"), domain.ClaimEquals("org_id", "acme")), domain.AllPermissions("root")), admin, allow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(tc.p)
			var se *domain.ScopeError
			var de *domain.DeniedError
			switch {
			case tc.want == allow && err != nil:
				t.Errorf("got %v, want allowed", err)
			case tc.want == scope && !errors.As(err, &se):
				t.Errorf("got %v (%T), want a *ScopeError", err, err)
			case tc.want == denied && !errors.As(err, &de):
				t.Errorf("got %v (%T), want a *DeniedError", err, err)
			case tc.want != allow && !errors.Is(err, domain.ErrForbidden):
				t.Errorf("got %v, want it to wrap ErrForbidden", err)
			}
		})
	}
}

func TestRefusalTexts(t *testing.T) {
	guest := domain.Principal{Subject: "auth0|guest"}
	for _, tc := range []struct {
		policy domain.Policy
		want   string
	}{
		{domain.AllScopes("read:messages"), "insufficient scope: read:messages required"},
		{domain.AnyScope("a", "b"), "insufficient scope: one of a, b required"},
		{domain.AllPermissions("delete:messages"), "insufficient permission: delete:messages required"},
		{domain.AnyRole("admin", "editor"), "requires one of the roles admin, editor"},
		{domain.ClaimEquals("org_id", "acme"), "requires claim org_id to be acme"},
		{domain.Or(domain.AllScopes("a"), domain.AnyScope("b")), "insufficient scope: one of a, b required"},
		{domain.Or(domain.AllScopes("a"), domain.AnyRole("admin")), "insufficient scope: a required, or requires one of the roles admin"},
	} {
		if got := domain.Describe(tc.policy.Check(guest)); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestNewMessage(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
	iss := "https://issuer.example/"
	for _, tc := range []struct {
		author, text string
		problem      string
	}{
		{"auth0|a", "hello", ""},
		{"auth0|a", strings.Repeat("é", 500), ""},
		{"auth0|a", "line one\n\tline two", ""},
		{"", "hello", "author is required, and the access token has no subject (sub)"},
		{"auth0|a", "", "text is required"},
		{"auth0|a", " \n ", "text is required"},
		{"auth0|a", strings.Repeat("a", 501), "text is longer than 500 characters"},
		{"auth0|a", "bell\a", "text contains control characters"},
		{"auth0|a", "bad \xff utf-8", "text is not valid UTF-8"},
	} {
		m, err := domain.NewMessage("id1", domain.Principal{Issuer: iss, Subject: tc.author}, tc.text, now)
		if tc.problem == "" {
			if err != nil || m.Text != tc.text || m.Author != tc.author || m.AuthorIssuer != iss || m.ID != "id1" {
				t.Errorf("%q: got %+v, %v", tc.text, m, err)
			}
			// Kept to the microsecond, in UTC, as every store keeps it.
			if want := time.Date(2030, 1, 2, 2, 4, 5, 123456000, time.UTC); m.CreatedAt != want {
				t.Errorf("CreatedAt: got %v, want %v", m.CreatedAt, want)
			}
			continue
		}
		var ie *domain.InputError
		if !errors.As(err, &ie) || !errors.Is(err, domain.ErrInvalidInput) || ie.Error() != tc.problem {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.problem)
		}
	}
}

func TestCanDelete(t *testing.T) {
	const one, two = "https://one.example/", "https://two.example/"
	m := domain.Message{ID: "1", Author: "auth0|alice", AuthorIssuer: one}
	write, del := []string{"read:messages", "write:messages"}, []string{"delete:messages"}
	notTheAuthor := []string{"delete:messages"}
	noScope := []string{"write:messages", "delete:messages"}
	for _, tc := range []struct {
		name   string
		p      domain.Principal
		refuse []string // the scopes the refusal names; nil: allowed
	}{
		{"the author with write:messages", domain.Principal{Issuer: one, Subject: "auth0|alice", Scopes: write}, nil},
		{"the author with read:messages only", domain.Principal{Issuer: one, Subject: "auth0|alice", Scopes: []string{"read:messages"}}, noScope},
		{"the author with no scope", domain.Principal{Issuer: one, Subject: "auth0|alice"}, noScope},
		{"the author with write:messages as a permission only", domain.Principal{Issuer: one, Subject: "auth0|alice", Permissions: []string{"write:messages"}}, noScope},
		{"the author's subject from another issuer", domain.Principal{Issuer: two, Subject: "auth0|alice", Scopes: write}, notTheAuthor},
		{"the author's subject without an issuer", domain.Principal{Subject: "auth0|alice", Scopes: write}, notTheAuthor},
		{"someone else with write:messages", domain.Principal{Issuer: one, Subject: "auth0|bob", Scopes: write}, notTheAuthor},
		{"someone else with delete:messages", domain.Principal{Issuer: two, Subject: "auth0|bob", Scopes: del}, nil},
		{"someone else with delete:messages as a permission only", domain.Principal{Issuer: two, Subject: "auth0|bob", Permissions: del}, notTheAuthor},
		{"no subject, write:messages", domain.Principal{Issuer: one, Scopes: write}, notTheAuthor},
	} {
		err := domain.CanDelete(tc.p, m)
		var se *domain.ScopeError
		switch {
		case tc.refuse == nil && err != nil:
			t.Errorf("%s: got %v, want allowed", tc.name, err)
		case tc.refuse != nil && (!errors.As(err, &se) || !slices.Equal(se.Scopes, tc.refuse)):
			t.Errorf("%s: got %v, want a *ScopeError naming %v", tc.name, err, tc.refuse)
		}
	}
}

func TestMessageKeyOrder(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	newer := domain.MessageKey{CreatedAt: t0.Add(time.Microsecond), ID: "a"}
	older := domain.MessageKey{CreatedAt: t0, ID: "z"}
	sameTimeLowerID := domain.MessageKey{CreatedAt: t0, ID: "y"}
	if !newer.Before(older) || older.Before(newer) {
		t.Errorf("the newer key must come first")
	}
	if !older.Before(sameTimeLowerID) || sameTimeLowerID.Before(older) {
		t.Errorf("at the same time, the higher ID must come first")
	}
	if older.Before(older) {
		t.Errorf("a key does not come before itself")
	}
}

func TestLookupClaim(t *testing.T) {
	claims := map[string]any{"a.b": 1.0, "a": map[string]any{"b": 2.0, "c": map[string]any{"d": "deep"}}, "s": "x"}
	for path, want := range map[string]any{"a.b": 1.0, "a.c.d": "deep", "s": "x"} {
		if got, ok := domain.LookupClaim(claims, path); !ok || got != want {
			t.Errorf("%s: got %v %v, want %v", path, got, ok, want)
		}
	}
	for _, path := range []string{"x", "a.x", "s.t", "a.c.d.e"} {
		if got, ok := domain.LookupClaim(claims, path); ok {
			t.Errorf("%s: got %v, want absent", path, got)
		}
	}
}
