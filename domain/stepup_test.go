package domain_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

const mfa = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

func TestStepUpCheck(t *testing.T) {
	now := time.Unix(1_900_000_000, 500_000_000) // half a second past a whole second, as a real clock is
	const noAuthTime = time.Duration(-1 << 63)
	login := func(acr string, ago time.Duration) domain.Principal {
		p := domain.Principal{Subject: "auth0|alice", ACR: acr}
		if ago != noAuthTime {
			p.AuthTime = now.Add(-ago)
		}
		return p
	}
	issued := func(p domain.Principal, ago time.Duration) domain.Principal {
		p.IssuedAt = now.Add(-ago)
		return p
	}
	strong := domain.StepUp{ACR: []string{mfa}}
	either := domain.StepUp{ACR: []string{"urn:loa:2", mfa}}
	fresh := domain.StepUp{MaxAge: 300 * time.Second}
	both := domain.StepUp{ACR: []string{mfa}, MaxAge: 300 * time.Second}

	for _, tc := range []struct {
		name string
		need domain.StepUp
		p    domain.Principal
		want string // "" allows; else the refusal's text
	}{
		{"nothing asked, nothing in the token", domain.StepUp{}, login("", noAuthTime), ""},
		{"acr asked, matching", strong, login(mfa, time.Hour), ""},
		{"acr asked, one of two", either, login("urn:loa:2", time.Hour), ""},
		{"acr asked, token has none", strong, login("", 0), "a stronger login is required: acr " + mfa + "; the token has no acr"},
		{"acr asked, token has another", strong, login("urn:loa:1", 0), "a stronger login is required: acr " + mfa + "; the token's acr is another"},
		{"acr compared exactly", strong, login(mfa+"/", 0), "a stronger login is required: acr " + mfa + "; the token's acr is another"},
		{"acr asked, one of two, neither", either, login("urn:loa:1", 0), "a stronger login is required: acr one of urn:loa:2, " + mfa + "; the token's acr is another"},
		{"max_age, a second ago", fresh, login("", time.Second), ""},
		{"max_age, exactly max_age ago", fresh, login("", 300*time.Second), ""},
		{"max_age, a nanosecond older", fresh, login("", 300*time.Second+1), "a more recent login is required: within 300 seconds; the user logged in 300 seconds ago"},
		{"max_age, an hour ago", fresh, login("", time.Hour), "a more recent login is required: within 300 seconds; the user logged in 3600 seconds ago"},
		{"max_age, no auth_time", fresh, login(mfa, noAuthTime), "a more recent login is required: within 300 seconds; the token has no auth_time"},
		{"max_age, auth_time after now (issuer's clock ahead)", fresh, login("", -time.Second+1), ""},
		{"max_age, auth_time the leeway ahead", fresh, login("", -domain.AuthTimeLeeway), ""},
		{"max_age, auth_time beyond the leeway", fresh, login("", -domain.AuthTimeLeeway-time.Second), "a more recent login is required: within 300 seconds; the token's auth_time is in the future"},
		{"max_age, auth_time ahead but before iat", fresh, issued(login("", -time.Minute), -2*time.Minute), ""},
		{"max_age, auth_time equal to iat", fresh, issued(login("", time.Second), time.Second), ""},
		{"max_age, auth_time a second after iat", fresh, issued(login("", 0), time.Second), "a more recent login is required: within 300 seconds; the token's auth_time is after its iat"},
		{"max_age, auth_time in the leeway but after iat", fresh, issued(login("", -9*time.Minute), 0), "a more recent login is required: within 300 seconds; the token's auth_time is after its iat"},
		{"no max_age, auth_time after iat", strong, issued(login(mfa, -time.Minute), 0), ""},
		{"both, both met", both, login(mfa, time.Minute), ""},
		{"both, acr missing: acr named first", both, login("", time.Hour), "a stronger login is required: acr " + mfa + "; the token has no acr"},
		{"both, stale", both, login(mfa, time.Hour), "a more recent login is required: within 300 seconds; the user logged in 3600 seconds ago"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.need.Check(tc.p, now)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				return
			}
			var se *domain.StepUpError
			if !errors.As(err, &se) {
				t.Fatalf("got %v (%T), want a *StepUpError", err, err)
			}
			if se.Reason != tc.want || domain.Describe(err) != tc.want {
				t.Errorf("got %q, want %q", se.Reason, tc.want)
			}
			// Whatever failed, the error carries the whole requirement:
			// the next login must meet all of it.
			if !slices.Equal(se.ACR, tc.need.ACR) || se.MaxAge != tc.need.MaxAge {
				t.Errorf("got acr %q, max_age %v; want %q, %v", se.ACR, se.MaxAge, tc.need.ACR, tc.need.MaxAge)
			}
			if !errors.Is(err, domain.ErrInsufficientAuthentication) || errors.Is(err, domain.ErrForbidden) {
				t.Errorf("got %v: want it to wrap ErrInsufficientAuthentication and not ErrForbidden (it is answered 401, not 403)", err)
			}
		})
	}
}

func TestRequireStepUpReadsTheClock(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	clock := func() time.Time { return now }
	need := domain.StepUp{ACR: []string{mfa}, MaxAge: time.Minute}
	policy := domain.RequireStepUp(need, clock)
	need.ACR[0] = "changed" // the policy keeps its own copy
	p := domain.Principal{ACR: mfa, AuthTime: now.Add(-time.Minute)}
	if err := policy.Check(p); err != nil {
		t.Fatalf("a minute old, max_age 60 s: got %v, want allowed", err)
	}
	now = now.Add(time.Second)
	if err := policy.Check(p); !errors.Is(err, domain.ErrInsufficientAuthentication) {
		t.Fatalf("a minute and a second old: got %v, want insufficient user authentication", err)
	}
	// Without a clock: the time now.
	live := domain.RequireStepUp(domain.StepUp{MaxAge: time.Minute}, nil)
	if err := live.Check(domain.Principal{AuthTime: time.Now()}); err != nil {
		t.Errorf("logged in now: got %v", err)
	}
	if err := live.Check(domain.Principal{AuthTime: time.Now().Add(-2 * time.Minute)}); err == nil {
		t.Errorf("logged in two minutes ago, max_age 60 s: allowed")
	}
}

func TestStepUpComposes(t *testing.T) {
	stepUp := domain.RequireStepUp(domain.StepUp{ACR: []string{mfa}}, nil)
	writer := domain.Principal{Scopes: []string{"write:messages"}}
	strongWriter := domain.Principal{Scopes: []string{"write:messages"}, ACR: mfa}
	reader := domain.Principal{Scopes: []string{"read:messages"}, ACR: mfa}
	weakReader := domain.Principal{Scopes: []string{"read:messages"}}
	deleteRoute := domain.And(domain.AnyScope("write:messages", "delete:messages"), stepUp)

	isStepUp := func(err error) bool { return errors.As(err, new(*domain.StepUpError)) }
	isScope := func(err error) bool { return errors.As(err, new(*domain.ScopeError)) }
	for _, tc := range []struct {
		name   string
		policy domain.Policy
		p      domain.Principal
		want   func(error) bool
	}{
		{"and: scope and login", deleteRoute, strongWriter, nil},
		{"and: scope, weak login: step up", deleteRoute, writer, isStepUp},
		{"and: no scope, strong login: the scope", deleteRoute, reader, isScope},
		{"and: neither: the scope first (a new login would not help)", deleteRoute, weakReader, isScope},
		{"or: a step-up refusal wins over a scope refusal", domain.Or(domain.AllScopes("admin"), deleteRoute), writer, isStepUp},
		{"or: scopes only", domain.Or(domain.AllScopes("admin"), deleteRoute), weakReader, isScope},
		{"or: the other branch allows", domain.Or(domain.AllScopes("read:messages"), deleteRoute), weakReader, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(tc.p)
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("got %v, want allowed", err)
			case tc.want != nil && !tc.want(err):
				t.Errorf("got %v (%T)", err, err)
			}
		})
	}
}

func TestStepUpMaxAgeSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{{0, 0}, {time.Second, 1}, {5 * time.Minute, 300}, {1500 * time.Millisecond, 1}} {
		if got := (domain.StepUp{MaxAge: tc.d}).MaxAgeSeconds(); got != tc.want {
			t.Errorf("%v: got %d, want %d", tc.d, got, tc.want)
		}
	}
	if !(domain.StepUp{}).IsZero() || (domain.StepUp{MaxAge: time.Second}).IsZero() || (domain.StepUp{ACR: []string{"x"}}).IsZero() {
		t.Error("IsZero: only a StepUp asking nothing is zero")
	}
}
