package introspection_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/introspection"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

const (
	issuer   = "https://as.example/"
	audience = "https://api.example.test"
)

// opaque returns a fresh opaque token, as authorization servers make them.
func opaque() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func config(s *server) introspection.Config {
	return introspection.Config{
		Endpoint: s.endpoint(), Issuer: issuer, ClientID: s.clientID, ClientSecret: s.secret,
		Audiences: []string{audience}, ClockTolerance: 5 * time.Second, CacheSize: 100,
	}
}

func start(t *testing.T, cfg introspection.Config) *introspection.Verifier {
	t.Helper()
	v, _ := startLogged(t, cfg, prometheus.NewRegistry())
	return v
}

func startLogged(t *testing.T, cfg introspection.Config, reg *prometheus.Registry) (*introspection.Verifier, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	v, cleanup, err := introspection.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	return v, logs
}

// active is a typical active answer for sub with scopes, living ttl.
func active(sub string, scopes []string, ttl time.Duration) map[string]any {
	now := time.Now()
	return map[string]any{
		"active": true, "scope": strings.Join(scopes, " "), "client_id": "machine", "sub": sub,
		"aud": audience, "iss": issuer, "exp": now.Add(ttl).Unix(), "iat": now.Add(min(0, 2*ttl)).Unix(),
		"token_type": "Bearer", "username": "alice",
	}
}

func TestContract(t *testing.T) {
	s := newServer(t, false)
	v := start(t, config(s))
	verifiertest.Run(t, verifiertest.Harness{
		Verifier: v, Issuer: issuer, Audience: audience,
		Mint: func(t *testing.T, g verifiertest.Grant) string {
			// For an expired grant the server answers as a lenient one
			// might, active with a past exp: the adapter's own exp check
			// must refuse it.
			tok := opaque()
			s.set(tok, active(g.Subject, g.Scopes, g.TTL))
			return tok
		},
	})
	s.checkRequests()
}

func TestPrincipal(t *testing.T) {
	s := newServer(t, false)
	cfg := config(s)
	cfg.RolesClaims = []string{"groups", "ext.roles"}
	v := start(t, cfg)
	tok := opaque()
	a := active("user-1", []string{"openid", "read:messages"}, time.Hour)
	a["aud"] = []string{"https://other.example", audience}
	a["groups"] = []string{"admins"}
	a["ext"] = map[string]any{"roles": "editor"}
	s.set(tok, a)
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "user-1" || p.Issuer != issuer || p.ClientID != "machine" ||
		!slices.Equal(p.Scopes, []string{"openid", "read:messages"}) || !slices.Equal(p.Audiences, []string{"https://other.example", audience}) ||
		!slices.Equal(p.Roles, []string{"admins", "editor"}) || time.Until(p.ExpiresAt) < 59*time.Minute || p.IssuedAt.IsZero() {
		t.Errorf("got %+v", p)
	}
	u, _ := p.Claim("username")
	if s, ok := u.(string); !ok || s != "alice" {
		t.Errorf("username claim: got %v", u)
	}
	if p.JKT != "" {
		t.Errorf("a bearer token's principal has JKT %q", p.JKT)
	}

	// How the user logged in (acr, amr, auth_time) reaches the principal,
	// fresh and cached, for step-up rules.
	stepped := opaque()
	a = active("user-1", []string{"read:messages"}, time.Hour)
	authTime := time.Now().Add(-time.Minute).Truncate(time.Second)
	a["acr"], a["amr"], a["auth_time"] = "urn:loa:2", []string{"pwd", "otp"}, authTime.Unix()
	s.set(stepped, a)
	for round := range 2 {
		if p, err := v.Verify(context.Background(), stepped); err != nil || p.ACR != "urn:loa:2" ||
			!slices.Equal(p.AMR, []string{"pwd", "otp"}) || !p.AuthTime.Equal(authTime) {
			t.Errorf("round %d: got acr %q amr %q auth_time %v, %v", round, p.ACR, p.AMR, p.AuthTime, err)
		}
	}
	if p.ACR != "" || p.AMR != nil || !p.AuthTime.IsZero() {
		t.Errorf("an answer without them: got acr %q amr %q auth_time %v", p.ACR, p.AMR, p.AuthTime)
	}

	// A DPoP-bound token's key reaches the principal, fresh and cached.
	bound := opaque()
	a = active("user-1", []string{"read:messages"}, time.Hour)
	a["token_type"] = "DPoP"
	a["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
	s.set(bound, a)
	for round := range 2 {
		if p, err := v.Verify(context.Background(), bound); err != nil || p.JKT != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" {
			t.Errorf("round %d: DPoP-bound token: got JKT %q, %v", round, p.JKT, err)
		}
	}
}

// Answers that say the token is active, and what the adapter still makes
// of them.
func TestActiveAnswersAreChecked(t *testing.T) {
	s := newServer(t, false)
	v := start(t, config(s))
	now := time.Now()
	for _, tc := range []struct {
		name   string
		change func(a map[string]any)
		want   domain.Reason
	}{
		{"as is", func(map[string]any) {}, "ok"},
		{"no exp, iat, iss or token_type (all optional)", func(a map[string]any) {
			for _, k := range []string{"exp", "iat", "iss", "token_type"} {
				delete(a, k)
			}
		}, "ok"},
		{"token_type in lower case", func(a map[string]any) { a["token_type"] = "bearer" }, "ok"},
		{"token_type access_token (a type hint)", func(a map[string]any) { a["token_type"] = "access_token" }, "ok"},
		{"token_type the access token URI", func(a map[string]any) { a["token_type"] = "urn:ietf:params:oauth:token-type:access_token" }, "ok"},
		{"token_use access_token (Ory Hydra)", func(a map[string]any) { a["token_use"] = "access_token" }, "ok"},
		{"exp within the leeway", func(a map[string]any) { a["exp"] = now.Add(-2 * time.Second).Unix() }, "ok"},
		{"inactive", func(a map[string]any) { a["active"] = false }, domain.ReasonInactive},
		{"expired", func(a map[string]any) { a["exp"] = now.Add(-time.Minute).Unix() }, domain.ReasonExpired},
		{"not yet valid", func(a map[string]any) { a["nbf"] = now.Add(time.Minute).Unix() }, domain.ReasonNotYetValid},
		{"issued in the future", func(a map[string]any) { a["iat"] = now.Add(time.Minute).Unix() }, domain.ReasonIssuedInFuture},
		{"another issuer", func(a map[string]any) { a["iss"] = "https://evil.example/" }, domain.ReasonIssuer},
		{"the issuer without its slash", func(a map[string]any) { a["iss"] = strings.TrimSuffix(issuer, "/") }, domain.ReasonIssuer},
		{"another audience", func(a map[string]any) { a["aud"] = "https://other.example" }, domain.ReasonAudience},
		{"an audience list without ours", func(a map[string]any) { a["aud"] = []string{"a", "b"} }, domain.ReasonAudience},
		{"no aud", func(a map[string]any) { delete(a, "aud") }, domain.ReasonMissingClaim},
		{"an empty audience list", func(a map[string]any) { a["aud"] = []string{} }, domain.ReasonMissingClaim},
		{"an empty audience", func(a map[string]any) { a["aud"] = "" }, domain.ReasonMissingClaim},
		{"a list of one empty audience", func(a map[string]any) { a["aud"] = []string{""} }, domain.ReasonMissingClaim},
		{"aud null", func(a map[string]any) { a["aud"] = nil }, domain.ReasonClaimType},
		{"our audience in another case", func(a map[string]any) { a["aud"] = strings.ToUpper(audience) }, domain.ReasonAudience},
		{"our audience with more appended", func(a map[string]any) { a["aud"] = audience + "/admin" }, domain.ReasonAudience},
		// What oidc-provider answers, under its default policy, for a
		// refresh token: active, with no aud and no token_type.
		{"an oidc-provider refresh token", func(a map[string]any) {
			for k := range a {
				if !slices.Contains([]string{"active", "sub", "client_id", "exp", "iat", "iss", "scope"}, k) {
					delete(a, k)
				}
			}
			a["jti"] = "kY3cLBbkXgW0bRu1M7aVb"
		}, domain.ReasonMissingClaim},
		{"aud with a number", func(a map[string]any) { a["aud"] = []any{audience, 1} }, domain.ReasonClaimType},
		{"aud a number", func(a map[string]any) { a["aud"] = 7 }, domain.ReasonClaimType},
		// RFC 9449 §6.2: a DPoP-bound token is accepted here (its principal
		// carries the key; the HTTP layer asks for the proof).
		{"a DPoP-bound token", func(a map[string]any) {
			a["token_type"] = "DPoP"
			a["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
		}, "ok"},
		{"cnf.jkt without token_type", func(a map[string]any) {
			delete(a, "token_type")
			a["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
		}, "ok"},
		{"token_type DPoP without cnf", func(a map[string]any) { a["token_type"] = "DPoP" }, domain.ReasonType},
		{"token_type DPoP, cnf without jkt", func(a map[string]any) {
			a["token_type"] = "DPoP"
			a["cnf"] = map[string]any{}
		}, domain.ReasonConfirmation},
		{"token_type DPoP, cnf with only a certificate", func(a map[string]any) {
			a["token_type"] = "DPoP"
			a["cnf"] = map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg0"}
		}, domain.ReasonType},
		{"cnf a string", func(a map[string]any) { a["cnf"] = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" }, domain.ReasonConfirmation},
		{"cnf.jkt a number", func(a map[string]any) { a["cnf"] = map[string]any{"jkt": 1} }, domain.ReasonConfirmation},
		{"cnf with a raw jwk", func(a map[string]any) { a["cnf"] = map[string]any{"jwk": map[string]any{"kty": "EC"}} }, domain.ReasonConfirmation},
		// RFC 8705 §3.2: a certificate-bound token (the app layer checks the certificate).
		{"a certificate-bound token", func(a map[string]any) {
			a["cnf"] = map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg0"}
		}, "ok"},
		{"cnf.jkt beside a certificate", func(a map[string]any) {
			a["token_type"] = "DPoP"
			a["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg0"}
		}, "ok"},
		{"cnf.jkt beside a kid", func(a map[string]any) {
			a["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "kid": "k1"}
		}, "ok"},
		{"a refresh token", func(a map[string]any) { a["token_type"] = "refresh_token" }, domain.ReasonType},
		{"a refresh token by its URI", func(a map[string]any) { a["token_type"] = "urn:ietf:params:oauth:token-type:refresh_token" }, domain.ReasonType},
		{"an ID token", func(a map[string]any) { a["token_type"] = "id_token" }, domain.ReasonType},
		// RFC 8693 §2.2.1: N_A says the token is not an access token.
		{"token_type N_A", func(a map[string]any) { a["token_type"] = "N_A" }, domain.ReasonType},
		{"token_type PoP", func(a map[string]any) { a["token_type"] = "PoP" }, domain.ReasonType},
		{"token_type mac", func(a map[string]any) { a["token_type"] = "mac" }, domain.ReasonType},
		{"token_type empty", func(a map[string]any) { a["token_type"] = "" }, domain.ReasonType},
		{"token_type Bearer with more appended", func(a map[string]any) { a["token_type"] = "Bearer refresh" }, domain.ReasonType},
		{"token_use refresh_token (Ory Hydra)", func(a map[string]any) { a["token_use"] = "refresh_token" }, domain.ReasonType},
		{"token_use refresh_token beside token_type Bearer", func(a map[string]any) {
			a["token_type"], a["token_use"] = "Bearer", "refresh_token"
		}, domain.ReasonType},
		{"token_use a number", func(a map[string]any) { a["token_use"] = 1 }, domain.ReasonClaimType},
		{"token_type a number", func(a map[string]any) { a["token_type"] = 1 }, domain.ReasonClaimType},
		{"scope an array", func(a map[string]any) { a["scope"] = []string{"read:messages"} }, domain.ReasonClaimType},
		{"exp a string", func(a map[string]any) { a["exp"] = "9999999999" }, domain.ReasonClaimType},
		{"exp negative", func(a map[string]any) { a["exp"] = -1 }, domain.ReasonClaimType},
		{"nbf true", func(a map[string]any) { a["nbf"] = true }, domain.ReasonClaimType},
		{"sub empty", func(a map[string]any) { a["sub"] = "" }, domain.ReasonClaimType},
		{"sub a number", func(a map[string]any) { a["sub"] = 5 }, domain.ReasonClaimType},
		{"client_id an object", func(a map[string]any) { a["client_id"] = map[string]any{} }, domain.ReasonClaimType},
		{"iss a number", func(a map[string]any) { a["iss"] = 1 }, domain.ReasonClaimType},
		{"acr a number", func(a map[string]any) { a["acr"] = 2 }, domain.ReasonClaimType},
		{"amr a string", func(a map[string]any) { a["amr"] = "pwd" }, domain.ReasonClaimType},
		{"auth_time a string", func(a map[string]any) { a["auth_time"] = "1700000000" }, domain.ReasonClaimType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := opaque()
			a := active("u", []string{"read:messages"}, time.Hour)
			tc.change(a)
			s.set(tok, a)
			_, err := v.Verify(context.Background(), tok)
			if got := jwtverifytest.Reason(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
	s.checkRequests()
}

// An answer's iss must be the configured issuer exactly: the issuer with
// anything appended (a path, a host suffix, a port, a slash) is another
// issuer, and so is a prefix of it, whether or not the configured name
// ends in a slash.
func TestIssuerComparedExactly(t *testing.T) {
	s := newServer(t, false)
	for _, configured := range []string{issuer, "https://issuer.example"} {
		cfg := config(s)
		cfg.Issuer = configured
		v := start(t, cfg)
		for _, iss := range []string{
			configured + "evil",
			configured + "/evil",
			configured + ".attacker",
			configured + ".attacker.example/",
			configured + ":8443",
			configured + "/",
			configured + "//",
			configured + "#",
			configured + "?",
			configured + " ",
			configured + "%2F",
			strings.ToUpper(configured),
			configured[:len(configured)-1],
			"",
		} {
			t.Run(fmt.Sprintf("%s answered as %q", configured, iss), func(t *testing.T) {
				tok := opaque()
				a := active("u", nil, time.Hour)
				a["iss"] = iss
				s.set(tok, a)
				_, err := v.Verify(context.Background(), tok)
				if got := jwtverifytest.Reason(t, err); got != domain.ReasonIssuer {
					t.Errorf("got %q (%v), want %q", got, err, domain.ReasonIssuer)
				}
			})
		}
		tok := opaque()
		a := active("u", nil, time.Hour)
		a["iss"] = configured
		s.set(tok, a)
		if p, err := v.Verify(context.Background(), tok); err != nil || p.Issuer != configured {
			t.Errorf("%s answered as itself: got %+v, %v", configured, p, err)
		}
	}
}

// An endpoint that is down, slow, refuses the API or answers garbage
// makes the token unavailable (503), never accepted and never refused as
// invalid; the token goes nowhere else.
func TestEndpointTroubleIsUnavailable(t *testing.T) {
	elsewhere := newServer(t, false) // a redirect's target must never see the token
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		cfg     func(c *introspection.Config)
	}{
		{"503", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) }, nil},
		{"500 with an active-looking body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			w.Write([]byte(`{"active":true,"sub":"x"}`))
		}, nil},
		{"slower than the timeout", slow(2 * time.Second), func(c *introspection.Config) { c.Timeout = 200 * time.Millisecond }},
		{"HTML", body("<html>oops</html>"), nil},
		{"empty body", body(""), nil},
		{"JSON null", body("null"), nil},
		{"an array", body(`[{"active":true}]`), nil},
		{"active a string", body(`{"active":"true","sub":"x"}`), nil},
		{"active missing", body(`{"sub":"x","scope":"read:messages"}`), nil},
		{"trailing garbage", body(`{"active":true} {"active":false}`), nil},
		{"over 64 KiB", body(`{"active":true,"pad":"` + strings.Repeat("A", 70<<10) + `"}`), nil},
		{"the API's credentials refused", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		}, nil},
		{"a redirect elsewhere (307 keeps the body)", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.endpoint(), http.StatusTemporaryRedirect)
		}, nil},
		{"a redirect elsewhere (302)", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.endpoint(), http.StatusFound)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, false)
			s.misbehave(tc.handler)
			cfg := config(s)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			v, logs := startLogged(t, cfg, prometheus.NewRegistry())
			tok := opaque()
			p, err := v.Verify(context.Background(), tok)
			if !errors.Is(err, domain.ErrUnavailable) || errors.Is(err, domain.ErrInvalidToken) {
				t.Errorf("got %+v, %v; want ErrUnavailable only", p, err)
			}
			// The 503 answer names what is missing: the endpoint.
			var ue *domain.UnavailableError
			if !errors.As(err, &ue) || ue.What != "the token introspection endpoint" {
				t.Errorf("got %v, want a *domain.UnavailableError naming the token introspection endpoint", err)
			}
			// fmt.Sprint, not err.Error(): err may be nil here, and a
			// panic would stop the package's other tests.
			if strings.Contains(fmt.Sprint(err), tok) || strings.Contains(logs.String(), tok) {
				t.Errorf("the token is in the error or the log")
			}
			// Failures are not cached: a working endpoint answers next time.
			s.misbehave(nil)
			s.set(tok, active("u", nil, time.Hour))
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Errorf("after the endpoint recovered: got %v", err)
			}
		})
	}
	if n := elsewhere.requests.Load(); n != 0 {
		t.Errorf("a redirect target received %d requests", n)
	}
	t.Run("nothing listening", func(t *testing.T) {
		s := newServer(t, false)
		cfg := config(s)
		s.Close()
		v := start(t, cfg)
		if _, err := v.Verify(context.Background(), opaque()); !errors.Is(err, domain.ErrUnavailable) || errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("got %v, want ErrUnavailable only", err)
		}
	})
	t.Run("the caller gives up first", func(t *testing.T) {
		s := newServer(t, false)
		s.misbehave(slow(2 * time.Second))
		v := start(t, config(s))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := v.Verify(ctx, opaque()); !errors.Is(err, domain.ErrUnavailable) {
			t.Errorf("got %v, want ErrUnavailable", err)
		}
	})
}

// Tokens that are not RFC 6750 b64tokens, and oversized ones, are refused
// without asking anyone.
func TestMalformedTokensAreNotSent(t *testing.T) {
	s := newServer(t, false)
	v := start(t, config(s))
	for tok, want := range map[string]domain.Reason{
		"":                              domain.ReasonMalformed,
		"a b":                           domain.ReasonMalformed,
		"abc=def":                       domain.ReasonMalformed,
		"=abc":                          domain.ReasonMalformed,
		"tok\n":                         domain.ReasonMalformed,
		"tök":                           domain.ReasonMalformed,
		strings.Repeat("A", 33<<10):     domain.ReasonTooLarge,
		"token&token_type_hint=refresh": domain.ReasonMalformed,
	} {
		if _, err := v.Verify(context.Background(), tok); jwtverifytest.Reason(t, err) != want {
			t.Errorf("%.20q: got %v, want %s", tok, err, want)
		}
	}
	if n := s.requests.Load(); n != 0 {
		t.Errorf("%d malformed tokens were sent to the endpoint", n)
	}
	for _, ok := range []string{"abc", "a-b.c_d~e+f/g==", "2YotnFZFEjr1zCsicMWpAA"} {
		s.set(ok, active("u", nil, time.Hour))
		if _, err := v.Verify(context.Background(), ok); err != nil {
			t.Errorf("%q: got %v", ok, err)
		}
	}
}

func TestCache(t *testing.T) {
	var clk *jwtverifytest.Clock // each subtest's own
	setup := func(t *testing.T) (*server, *introspection.Verifier, *prometheus.Registry) {
		clk = &jwtverifytest.Clock{}
		s := newServer(t, false)
		cfg := config(s)
		cfg.Now, cfg.CacheTTL, cfg.NegativeTTL = clk.Now, time.Minute, 5*time.Second
		reg := prometheus.NewRegistry()
		v, _ := startLogged(t, cfg, reg)
		return s, v, reg
	}
	verify := func(t *testing.T, v *introspection.Verifier, tok string) domain.Reason {
		t.Helper()
		_, err := v.Verify(context.Background(), tok)
		return jwtverifytest.Reason(t, err)
	}
	t.Run("an active answer serves for CacheTTL", func(t *testing.T) {
		s, v, reg := setup(t)
		tok := opaque()
		s.set(tok, active("u", nil, time.Hour))
		for range 3 {
			if got := verify(t, v, tok); got != "ok" {
				t.Fatalf("got %s", got)
			}
		}
		if n := s.requests.Load(); n != 1 {
			t.Errorf("3 verifications: %d requests, want 1", n)
		}
		if h := metric(t, reg, "token_cache_hits_total"); h != 2 {
			t.Errorf("cache hits: got %v, want 2", h)
		}
		// The server revokes it: it still works until the entry ends.
		s.set(tok, map[string]any{"active": false})
		clk.Advance(30 * time.Second)
		if got := verify(t, v, tok); got != "ok" {
			t.Errorf("within CacheTTL of a revocation: got %s, want ok (the cache's price)", got)
		}
		clk.Advance(31 * time.Second)
		if got := verify(t, v, tok); got != domain.ReasonInactive {
			t.Errorf("after CacheTTL: got %s, want inactive", got)
		}
	})
	t.Run("never past exp", func(t *testing.T) {
		s, v, _ := setup(t)
		tok := opaque()
		s.set(tok, active("u", nil, 10*time.Second))
		if got := verify(t, v, tok); got != "ok" {
			t.Fatalf("got %s", got)
		}
		clk.Advance(16 * time.Second) // past exp and the 5s leeway
		if got := verify(t, v, tok); got != domain.ReasonExpired {
			t.Errorf("cached token past its exp: got %s, want expired", got)
		}
		if n := s.requests.Load(); n != 2 {
			t.Errorf("requests: got %d, want 2 (the entry ended at exp)", n)
		}
	})
	t.Run("an inactive answer serves briefly", func(t *testing.T) {
		s, v, _ := setup(t)
		tok := opaque()
		for range 3 {
			if got := verify(t, v, tok); got != domain.ReasonInactive {
				t.Fatalf("got %s", got)
			}
		}
		if n := s.requests.Load(); n != 1 {
			t.Errorf("requests: got %d, want 1", n)
		}
		s.set(tok, active("u", nil, time.Hour)) // e.g. a token issued a moment later
		clk.Advance(6 * time.Second)
		if got := verify(t, v, tok); got != "ok" {
			t.Errorf("after NegativeTTL: got %s, want ok", got)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		s := newServer(t, false)
		cfg := config(s)
		cfg.CacheSize = 10
		reg := prometheus.NewRegistry()
		v, _ := startLogged(t, cfg, reg)
		for range 50 {
			tok := opaque()
			s.set(tok, active("u", nil, time.Hour))
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			if got := verify(t, v, opaque()); got != domain.ReasonInactive { // inactive: cached too
				t.Fatalf("unknown token: got %s, want %s", got, domain.ReasonInactive)
			}
		}
		if n := metric(t, reg, "token_cache_entries"); n > 10 {
			t.Errorf("entries: got %v, want at most 10", n)
		}
	})
	t.Run("off", func(t *testing.T) {
		s := newServer(t, false)
		cfg := config(s)
		cfg.CacheSize = 0
		v := start(t, cfg)
		tok := opaque()
		s.set(tok, active("u", nil, time.Hour))
		for i := range 2 {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("verification %d with the cache off: %v", i, err)
			}
		}
		if n := s.requests.Load(); n != 2 {
			t.Errorf("requests with the cache off: got %d, want 2", n)
		}
	})
}

// Concurrent requests for one token share one introspection; past
// MaxInFlight, tokens are unavailable rather than queued.
func TestConcurrency(t *testing.T) {
	s := newServer(t, false)
	release := make(chan struct{})
	var inflight sync.WaitGroup
	inflight.Add(1)
	var once sync.Once
	tok := opaque()
	s.set(tok, active("u", nil, time.Hour))
	s.misbehave(func(w http.ResponseWriter, r *http.Request) {
		once.Do(inflight.Done)
		<-release
		s.answer(w, r)
	})
	cfg := config(s)
	cfg.MaxInFlight = 1
	v := start(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	inflight.Wait()
	// The one slot is taken: another token is unavailable at once.
	if _, err := v.Verify(context.Background(), opaque()); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("a second token while the slot is taken: got %v, want ErrUnavailable", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a waiter got %v", err)
		}
	}
	if n := s.requests.Load(); n != 1 {
		t.Errorf("20 concurrent verifications of one token: %d requests, want 1", n)
	}
}

func TestDiscovery(t *testing.T) {
	s := newServer(t, false)
	t.Run("the endpoint from the issuer's metadata", func(t *testing.T) {
		as := jwtverifytest.NewIssuer(t)
		as.SetDiscovery(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"introspection_endpoint":%q}`, as.URL, as.JWKSURL(), s.endpoint())
		})
		cfg := config(s)
		cfg.Endpoint, cfg.Issuer = "", strings.TrimSuffix(as.URL, "/") // discovery names it with its slash
		v := start(t, cfg)
		jwtverifytest.WaitReady(t, v)
		tok := opaque()
		a := active("u", nil, time.Hour)
		a["iss"] = as.URL // the issuer as its metadata names it
		s.set(tok, a)
		if p, err := v.Verify(context.Background(), tok); err != nil || p.Issuer != as.URL {
			t.Errorf("got %+v, %v", p, err)
		}
	})
	for _, tc := range []struct {
		name, metadata, log string
	}{
		{"no introspection_endpoint", `{"issuer":%q}`, "names no introspection_endpoint"},
		{"a plain-http endpoint elsewhere", `{"issuer":%q,"introspection_endpoint":"http://as.example/introspect"}`, "must use https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := jwtverifytest.NewIssuer(t)
			as.SetDiscovery(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, tc.metadata, as.URL) })
			cfg := config(s)
			cfg.Endpoint, cfg.Issuer = "", as.URL
			v, logs := startLogged(t, cfg, prometheus.NewRegistry())
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), tc.log) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, logs.String())
			}
			if v.Ready(context.Background()) == nil {
				t.Errorf("ready without an endpoint")
			}
			if _, err := v.Verify(context.Background(), opaque()); !errors.Is(err, domain.ErrUnavailable) {
				t.Errorf("got %v, want ErrUnavailable", err)
			}
		})
	}
}

// Over https with the server's certificate trusted; the certificate of a
// stranger is not.
func TestTLS(t *testing.T) {
	s := newServer(t, true)
	tok := opaque()
	s.set(tok, active("u", nil, time.Hour))
	cfg := config(s)
	cfg.HTTPClient = s.Client()
	if _, err := start(t, cfg).Verify(context.Background(), tok); err != nil {
		t.Errorf("trusted certificate: got %v", err)
	}
	cfg.HTTPClient = nil // the system's roots: httptest's certificate is not among them
	if _, err := start(t, cfg).Verify(context.Background(), tok); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("untrusted certificate: got %v, want ErrUnavailable", err)
	}
}

func TestMisconfiguration(t *testing.T) {
	base := introspection.Config{Endpoint: "https://as.example/introspect", ClientID: "c", ClientSecret: "s", Audiences: []string{"a"}}
	for _, tc := range []struct {
		name string
		mod  func(c *introspection.Config)
		want string
	}{
		{"no endpoint and no issuer", func(c *introspection.Config) { c.Endpoint = "" }, "INTROSPECTION_URL is required"},
		{"an http endpoint elsewhere", func(c *introspection.Config) { c.Endpoint = "http://as.example/introspect" }, "must use https"},
		{"an endpoint with a query", func(c *introspection.Config) { c.Endpoint = "https://as.example/introspect?x=1" }, "query"},
		{"no client", func(c *introspection.Config) { c.ClientID = "" }, "INTROSPECTION_CLIENT_ID"},
		{"no secret", func(c *introspection.Config) { c.ClientSecret = "" }, "INTROSPECTION_CLIENT_SECRET"},
		{"no audience", func(c *introspection.Config) { c.Audiences = nil }, "AUDIENCE"},
		{"cache TTL too long", func(c *introspection.Config) { c.CacheTTL = time.Hour }, "INTROSPECTION_CACHE_TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mod(&c)
			_, _, err := introspection.New(context.Background(), c, jwtverifytest.Quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	secretFile := jwtverifytest.WriteFile(t, "secret", []byte("s3cret\n"))
	ok := map[string]string{"INTROSPECTION_URL": "https://as.example/introspect", "INTROSPECTION_CLIENT_ID": "spaapi",
		"INTROSPECTION_CLIENT_SECRET_FILE": secretFile, "AUDIENCE": "https://api.example"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	c, err := introspection.Load(jwtverifytest.Env(with("INTROSPECTION_CACHE_TTL", "10s", "ROLES_CLAIM", "groups")),
		jwtverify.Options{ClockTolerance: time.Second, CacheSize: 7, CacheTTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientSecret != "s3cret" || c.CacheTTL != 10*time.Second || c.CacheSize != 7 || c.ClockTolerance != time.Second ||
		!slices.Equal(c.RolesClaims, []string{"groups"}) || c.Endpoint != "https://as.example/introspect" {
		t.Errorf("got %+v", c)
	}
	if c, err := introspection.Load(jwtverifytest.Env(with("INTROSPECTION_URL", "", "ISSUER_BASE_URL", "https://as.example/")), jwtverify.Options{}); err != nil || c.Issuer != "https://as.example/" {
		t.Errorf("issuer only: got %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"neither URL nor issuer", with("INTROSPECTION_URL", ""), "INTROSPECTION_URL is required for AUTH_PROVIDER=introspection, or ISSUER_BASE_URL"},
		{"http URL", with("INTROSPECTION_URL", "http://as.example/introspect"), "INTROSPECTION_URL: "},
		{"several issuers", with("ISSUER_BASE_URL", "https://a.example/,https://b.example/"), "ISSUER_BASE_URL: AUTH_PROVIDER=introspection takes one issuer"},
		{"no client", with("INTROSPECTION_CLIENT_ID", ""), "INTROSPECTION_CLIENT_ID is required"},
		{"no secret", with("INTROSPECTION_CLIENT_SECRET_FILE", ""), "INTROSPECTION_CLIENT_SECRET_FILE (or INTROSPECTION_CLIENT_SECRET) is required"},
		{"two secrets", with("INTROSPECTION_CLIENT_SECRET", "x"), "INTROSPECTION_CLIENT_SECRET and INTROSPECTION_CLIENT_SECRET_FILE are both set"},
		{"secret file missing", with("INTROSPECTION_CLIENT_SECRET_FILE", "/nope"), "INTROSPECTION_CLIENT_SECRET_FILE: "},
		{"secret file empty", with("INTROSPECTION_CLIENT_SECRET_FILE", jwtverifytest.WriteFile(t, "empty", []byte("\n"))), "INTROSPECTION_CLIENT_SECRET_FILE: "},
		{"no audience", with("AUDIENCE", ""), "AUDIENCE is required"},
		{"bad cache TTL", with("INTROSPECTION_CACHE_TTL", "1h"), "INTROSPECTION_CACHE_TTL: "},
		{"zero cache TTL", with("INTROSPECTION_CACHE_TTL", "0s"), "INTROSPECTION_CACHE_TTL: "},
		{"a JWKS URI", with("JWKS_URI", "https://as.example/jwks"), "JWKS_URI is set, but AUTH_PROVIDER=introspection asks the issuer"},
		{"signing algorithms", with("TOKEN_SIGNING_ALG", "RS256"), "TOKEN_SIGNING_ALG is set, but AUTH_PROVIDER=introspection asks the issuer"},
		{"the JWT cache TTL", with("TOKEN_CACHE_TTL", "1m"), "TOKEN_CACHE_TTL is set, but AUTH_PROVIDER=introspection caches answers for INTROSPECTION_CACHE_TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := introspection.Load(jwtverifytest.Env(tc.env), jwtverify.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	s := newServer(t, false)
	reg := prometheus.NewRegistry()
	v, _ := startLogged(t, config(s), reg)
	tok := opaque()
	s.set(tok, active("u", nil, time.Hour))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("active token: %v", err)
	}
	if _, err := v.Verify(context.Background(), opaque()); jwtverifytest.Reason(t, err) != domain.ReasonInactive {
		t.Fatalf("unknown token: got %v, want %s", err, domain.ReasonInactive)
	}
	s.misbehave(body("garbage"))
	if _, err := v.Verify(context.Background(), opaque()); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("garbage answer: got %v, want ErrUnavailable", err)
	}
	for result, want := range map[string]float64{"active": 1, "inactive": 1, "error": 1} {
		if got := metricWith(t, reg, "introspection_requests_total", result); got != want {
			t.Errorf("introspection_requests_total{result=%q}: got %v, want %v", result, got, want)
		}
	}
}

// metric returns the value of the named counter or gauge without labels.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	return metricWith(t, reg, name, "")
}

func metricWith(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if result != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != result) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s %s", name, result)
	return 0
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
