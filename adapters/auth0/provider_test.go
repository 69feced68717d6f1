package auth0_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

func verifyOK(t *testing.T, v *auth0.Verifier, tok string) domain.Principal {
	t.Helper()
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return p
}

func TestAuth0RolesClaim(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	cfg := newConfig(iss)
	cfg.RolesClaims = []string{"https://spaapi.example.com/roles"}
	v := start(t, cfg)
	c := iss.Claims("auth0|alice", "read:messages")
	c["https://spaapi.example.com/roles"] = []string{"admin"}
	c["permissions"] = []string{"read:messages", "delete:messages"}
	p := verifyOK(t, v, iss.Token(c))
	if !slices.Equal(p.Roles, []string{"admin"}) || !p.HasPermission("delete:messages") {
		t.Errorf("roles %q permissions %q", p.Roles, p.Permissions)
	}
}

// Several tenants: each token is verified by its own tenant's keys only
// (the engine's routing is tested in adapters/jwtverify).
func TestSeveralTenants(t *testing.T) {
	a := jwtverifytest.NewIssuer(t)
	b := jwtverifytest.NewIssuer(t)
	b.Key = jwtverifytest.NewRSAKey(t, "key-1", 1) // the same kid as a's key, another key
	b.Publish(b.Key)
	cfg := newConfig(a)
	cfg.IssuerBaseURL, cfg.Issuers = "", []string{a.URL, b.URL}
	v := start(t, cfg)
	if p := verifyOK(t, v, a.Token(a.Claims("auth0|from-a"))); p.Issuer != a.URL {
		t.Errorf("issuer a: got %q", p.Issuer)
	}
	if p := verifyOK(t, v, b.Token(b.Claims("auth0|from-b"))); p.Issuer != b.URL {
		t.Errorf("issuer b: got %q", p.Issuer)
	}
	if _, err := v.Verify(context.Background(), a.Token(b.Claims("auth0|forged"))); reasonOf(t, err) != domain.ReasonSignature {
		t.Errorf("b's claims signed by a's key (shared kid): got %v, want bad_signature", err)
	}
}

func TestMisconfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  auth0.Config
		want string
	}{
		{"several issuers, one JWKS", auth0.Config{Issuers: []string{"https://a/", "https://b/"}, Audiences: []string{"a"}, JWKSURI: "https://a/jwks"}, "cannot be shared"},
		{"several issuers, one over http", auth0.Config{Issuers: []string{"https://a/", "http://b.example/"}, Audiences: []string{"a"}}, "must use https"},
		{"the same issuer twice", auth0.Config{Issuers: []string{"https://a/", "https://a/"}, Audiences: []string{"a"}}, "given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := auth0.New(context.Background(), tc.cfg, quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Load reads the provider's settings; the messages name the variable.
// (cmd/api's tests run the same through flags and the environment.)
func TestLoad(t *testing.T) {
	opts := jwtverify.Options{ClockTolerance: 5 * time.Second}
	t.Run("valid", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			env  map[string]string
			want auth0.Config
		}{
			{"domain", map[string]string{"AUTH0_DOMAIN": "tenant.auth0.com", "AUDIENCE": "https://api"},
				auth0.Config{IssuerBaseURL: "https://tenant.auth0.com/", Audiences: []string{"https://api"}}},
			{"issuer and domain that agree", map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "ISSUER_BASE_URL": "https://t.auth0.com", "AUDIENCE": "a"},
				auth0.Config{IssuerBaseURL: "https://t.auth0.com", Audiences: []string{"a"}}},
			{"loopback domain over http", map[string]string{"AUTH0_DOMAIN": "http://localhost:4000", "AUDIENCE": "a"},
				auth0.Config{IssuerBaseURL: "http://localhost:4000/", Audiences: []string{"a"}}},
			{"several issuers, roles, algorithms", map[string]string{"ISSUER_BASE_URL": "https://a.auth0.com/, https://b.auth0.com/", "AUDIENCE": "a,b",
				"ROLES_CLAIM": "https://example.com/roles", "TOKEN_SIGNING_ALG": "RS256,Ed25519"},
				auth0.Config{Issuers: []string{"https://a.auth0.com/", "https://b.auth0.com/"}, Audiences: []string{"a", "b"},
					RolesClaims: []string{"https://example.com/roles"}, Options: jwtverify.Options{Algorithms: []string{"RS256", "Ed25519"}}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := auth0.Load(jwtverifytest.Env(tc.env), opts)
				if err != nil {
					t.Fatalf("got %v", err)
				}
				if c.IssuerBaseURL != tc.want.IssuerBaseURL || !slices.Equal(c.Issuers, tc.want.Issuers) ||
					!slices.Equal(c.Audiences, tc.want.Audiences) || !slices.Equal(c.RolesClaims, tc.want.RolesClaims) ||
					!slices.Equal(c.Algorithms, wantAlgs(tc.want.Algorithms)) {
					t.Errorf("got %+v, want %+v", c, tc.want)
				}
				if c.ClockTolerance != 5*time.Second {
					t.Errorf("options not kept: %+v", c.Options)
				}
			})
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", map[string]string{}, "ISSUER_BASE_URL (or AUTH0_DOMAIN) is required"},
		{"no audience", map[string]string{"AUTH0_DOMAIN": "t.auth0.com"}, "AUDIENCE is required: set it to your API's identifier (Auth0 dashboard > APIs)"},
		{"domain with a path", map[string]string{"AUTH0_DOMAIN": "tenant.auth0.com/x", "AUDIENCE": "a"}, "AUTH0_DOMAIN: "},
		{"issuer and domain disagree", map[string]string{"ISSUER_BASE_URL": "https://a.auth0.com/", "AUTH0_DOMAIN": "b.auth0.com", "AUDIENCE": "a"}, `ISSUER_BASE_URL ("https://a.auth0.com/") and AUTH0_DOMAIN`},
		{"several issuers with a domain", map[string]string{"ISSUER_BASE_URL": "https://a/,https://b/", "AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a"}, "AUTH0_DOMAIN is set, but it names one Auth0 issuer"},
		{"several issuers, one bad", map[string]string{"ISSUER_BASE_URL": "https://a.example/,http://b.example/", "AUDIENCE": "a"}, "ISSUER_BASE_URL: "},
		{"several issuers, one JWKS", map[string]string{"ISSUER_BASE_URL": "https://a.example/,https://b.example/", "AUDIENCE": "a", "JWKS_URI": "https://a.example/jwks"}, "JWKS_URI: cannot be shared"},
		{"http JWKS", map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "JWKS_URI": "http://keys.example.com/jwks.json"}, "JWKS_URI: "},
		{"HS256", map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "TOKEN_SIGNING_ALG": "HS256"}, "TOKEN_SIGNING_ALG: HS256 is a shared-secret algorithm"},
		{"empty audience item", map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a,,b"}, "AUDIENCE: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth0.Load(jwtverifytest.Env(tc.env), opts)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line starting %q", err, tc.want)
			}
		})
	}
}

// wantAlgs is algs, or the default RS256 when empty.
func wantAlgs(algs []string) []string {
	if len(algs) == 0 {
		return []string{"RS256"}
	}
	return algs
}

// How the user logged in: the standard acr, amr and auth_time, else the
// claims an Action adds under AUTH0_CLAIMS_NAMESPACE; a claim of the
// wrong type refuses the token (a step-up rule could not read it).
func TestLoginClaims(t *testing.T) {
	const ns = "https://spaapi.example.com/"
	const mfa = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
	iss := jwtverifytest.NewIssuer(t)
	cfg := newConfig(iss)
	cfg.ClaimsNamespace = ns
	v := start(t, cfg)
	plain := start(t, newConfig(iss)) // no namespace
	authTime := time.Now().Add(-time.Minute).Truncate(time.Second)
	for _, tc := range []struct {
		name   string
		claims map[string]any
		acr    string
		amr    []string
		at     time.Time
		plain  bool // the verifier without a namespace reads the same
		reason domain.Reason
	}{
		{"none", nil, "", nil, time.Time{}, true, ""},
		{"standard", map[string]any{"acr": mfa, "amr": []string{"pwd", "mfa"}, "auth_time": authTime.Unix()}, mfa, []string{"pwd", "mfa"}, authTime, true, ""},
		{"namespaced", map[string]any{ns + "acr": mfa, ns + "amr": []string{"mfa"}, ns + "auth_time": authTime.Unix()}, mfa, []string{"mfa"}, authTime, false, ""},
		{"standard wins", map[string]any{"acr": "urn:loa:1", ns + "acr": mfa}, "urn:loa:1", nil, time.Time{}, true, ""},
		{"fractional auth_time", map[string]any{"auth_time": float64(authTime.Unix()) + 0.5}, "", nil, authTime.Add(500 * time.Millisecond), true, ""},
		{"acr a number", map[string]any{"acr": 2}, "", nil, time.Time{}, true, domain.ReasonClaimType},
		{"amr a string", map[string]any{"amr": "mfa"}, "", nil, time.Time{}, true, domain.ReasonClaimType},
		{"amr with a number", map[string]any{"amr": []any{"pwd", 1}}, "", nil, time.Time{}, true, domain.ReasonClaimType},
		{"auth_time a string", map[string]any{"auth_time": "1700000000"}, "", nil, time.Time{}, true, domain.ReasonClaimType},
		{"auth_time negative", map[string]any{"auth_time": -1}, "", nil, time.Time{}, true, domain.ReasonClaimType},
		{"namespaced acr a number", map[string]any{ns + "acr": 2}, "", nil, time.Time{}, false, domain.ReasonClaimType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := iss.Claims("auth0|alice", "read:messages")
			for k, x := range tc.claims {
				c[k] = x
			}
			tok := iss.Token(c)
			p, err := v.Verify(context.Background(), tok)
			if tc.reason != "" {
				if got := reasonOf(t, err); got != tc.reason {
					t.Fatalf("got %v, want %s", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.ACR != tc.acr || !slices.Equal(p.AMR, tc.amr) || !p.AuthTime.Equal(tc.at) {
				t.Errorf("got acr %q amr %q auth_time %v; want %q %q %v", p.ACR, p.AMR, p.AuthTime, tc.acr, tc.amr, tc.at)
			}
			q, err := plain.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if read := q.ACR != "" || q.AMR != nil || !q.AuthTime.IsZero(); tc.plain != (read || tc.claims == nil) {
				t.Errorf("without AUTH0_CLAIMS_NAMESPACE: got acr %q amr %q auth_time %v", q.ACR, q.AMR, q.AuthTime)
			}
		})
	}
}

func TestClaimsNamespaceSetting(t *testing.T) {
	opts := jwtverify.Options{ClockTolerance: 5 * time.Second}
	env := func(ns string) jwtverify.Env {
		return jwtverifytest.Env(map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "AUTH0_CLAIMS_NAMESPACE": ns})
	}
	for ns, want := range map[string]string{"": "", "https://example.com/": "https://example.com/", "https://example.com": "https://example.com/",
		"http://localhost:3000/claims": "http://localhost:3000/claims/"} {
		if c, err := auth0.Load(env(ns), opts); err != nil || c.ClaimsNamespace != want {
			t.Errorf("%q: got %q, %v; want %q", ns, c.ClaimsNamespace, err, want)
		}
	}
	for _, ns := range []string{"example.com", "ftp://example.com/", "https://", "https://example.com/?x=1", "https://example.com/#f", "https://exa mple.com/"} {
		if _, err := auth0.Load(env(ns), opts); err == nil || !strings.HasPrefix(err.Error(), "AUTH0_CLAIMS_NAMESPACE: ") {
			t.Errorf("%q: got %v, want an AUTH0_CLAIMS_NAMESPACE error", ns, err)
		}
	}
	cfg := auth0.Config{IssuerBaseURL: "https://t.auth0.com/", Audiences: []string{"a"}, ClaimsNamespace: "https://example.com"}
	if err := cfg.Check(); err == nil || !strings.HasPrefix(err.Error(), "AUTH0_CLAIMS_NAMESPACE: ") {
		t.Errorf("Check with a namespace lacking its /: got %v", err)
	}
}
