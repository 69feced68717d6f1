package auth0_test

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

var quiet = jwtverifytest.Quiet

func newConfig(iss *jwtverifytest.Issuer) auth0.Config {
	return auth0.Config{
		IssuerBaseURL: iss.URL,
		Audiences:     []string{jwtverifytest.Audience},
		Options:       jwtverify.Options{ClockTolerance: 5 * time.Second},
	}
}

// start builds a verifier for cfg and waits until its keys are loaded.
func start(t *testing.T, cfg auth0.Config) *auth0.Verifier {
	t.Helper()
	v := startNoWait(t, cfg)
	waitReady(t, v)
	return v
}

func startNoWait(t *testing.T, cfg auth0.Config) *auth0.Verifier {
	t.Helper()
	return newVerifier(t, cfg, quiet, prometheus.NewRegistry())
}

// newVerifier builds a verifier that stops when the test ends; it does not
// wait for keys.
func newVerifier(t testing.TB, cfg auth0.Config, log *slog.Logger, reg *prometheus.Registry) *auth0.Verifier {
	t.Helper()
	v, cleanup, err := auth0.New(context.Background(), cfg, log, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	return v
}

func waitReady(t testing.TB, v *auth0.Verifier) { jwtverifytest.WaitReady(t, v) }

// reasonOf returns the refusal reason of err, "ok" for nil, or fails.
func reasonOf(t *testing.T, err error) domain.Reason { return jwtverifytest.Reason(t, err) }

func TestContract(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v := start(t, newConfig(iss))
	verifiertest.Run(t, verifiertest.Harness{
		Verifier: v,
		Issuer:   iss.URL,
		Audience: jwtverifytest.Audience,
		Mint: func(t *testing.T, g verifiertest.Grant) string {
			c := iss.Claims(g.Subject, g.Scopes...)
			c["exp"] = time.Now().Add(g.TTL).Unix()
			if g.TTL < 0 {
				c["iat"] = time.Now().Add(2 * g.TTL).Unix()
			}
			return iss.Token(c)
		},
	})
}

func TestPrincipalMapping(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v := start(t, newConfig(iss))
	c := iss.Claims("auth0|alice", "openid", "read:messages")
	c["permissions"] = []string{"read:messages", "delete:messages"}
	c["https://example.com/roles"] = []string{"admin"}
	p, err := v.Verify(context.Background(), iss.Token(c))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != "auth0|alice" || p.Issuer != iss.URL || p.ClientID != "test-client" {
		t.Errorf("got subject %q issuer %q client %q, want auth0|alice %q test-client", p.Subject, p.Issuer, p.ClientID, iss.URL)
	}
	if want := []string{jwtverifytest.Audience, iss.URL + "userinfo"}; !slices.Equal(p.Audiences, want) {
		t.Errorf("Audiences: got %q, want %q", p.Audiences, want)
	}
	if want := []string{"openid", "read:messages"}; !slices.Equal(p.Scopes, want) {
		t.Errorf("Scopes: got %q, want %q", p.Scopes, want)
	}
	if want := []string{"read:messages", "delete:messages"}; !slices.Equal(p.Permissions, want) {
		t.Errorf("Permissions: got %q, want %q", p.Permissions, want)
	}
	if p.IssuedAt.IsZero() || p.ExpiresAt.Sub(p.IssuedAt) != time.Hour {
		t.Errorf("IssuedAt %v ExpiresAt %v, want one hour apart", p.IssuedAt, p.ExpiresAt)
	}
	if _, ok := p.Claims["https://example.com/roles"]; !ok {
		t.Errorf("Claims: custom claim missing from %v", slices.Collect(maps.Keys(p.Claims)))
	}
}

func mustJSON(t *testing.T, v any) string { return jwtverifytest.MustJSON(t, v) }

func b64(s string) string { return jwtverifytest.B64(s) }

func hmacToken(t *testing.T, secret []byte, header, payload string) string {
	return jwtverifytest.HMACToken(t, secret, header, payload)
}

func TestConfigErrors(t *testing.T) {
	ok := auth0.Config{IssuerBaseURL: "https://tenant.auth0.com/", Audiences: []string{"https://api"}}
	for _, tc := range []struct {
		name string
		mod  func(c *auth0.Config)
		want string
	}{
		{"no issuer", func(c *auth0.Config) { c.IssuerBaseURL = "" }, "issuer"},
		{"relative issuer", func(c *auth0.Config) { c.IssuerBaseURL = "tenant.auth0.com" }, "absolute"},
		{"http issuer", func(c *auth0.Config) { c.IssuerBaseURL = "http://tenant.auth0.com/" }, "https"},
		{"issuer with query", func(c *auth0.Config) { c.IssuerBaseURL = "https://tenant.auth0.com/?a=b" }, "query"},
		{"discovery URL as issuer", func(c *auth0.Config) {
			c.IssuerBaseURL = "https://tenant.auth0.com/.well-known/openid-configuration"
		}, "discovery document"},
		{"no audience", func(c *auth0.Config) { c.Audiences = nil }, "audience"},
		{"blank audience", func(c *auth0.Config) { c.Audiences = []string{" "} }, "audience"},
		{"http JWKS", func(c *auth0.Config) { c.JWKSURI = "http://tenant.auth0.com/jwks.json" }, "https"},
		{"HS256", func(c *auth0.Config) { c.Algorithms = []string{"HS256"} }, "shared-secret"},
		{"none", func(c *auth0.Config) { c.Algorithms = []string{"none"} }, "never allowed"},
		{"unknown alg", func(c *auth0.Config) { c.Algorithms = []string{"rs256"} }, "unknown algorithm"},
		{"negative tolerance", func(c *auth0.Config) { c.ClockTolerance = -time.Second }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, _, err := auth0.New(context.Background(), c, quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("loopback http is fine", func(t *testing.T) {
		for _, u := range []string{"http://localhost:4000/", "http://127.0.0.1:4000/", "http://[::1]:4000/"} {
			c := ok
			c.IssuerBaseURL = u
			_, cleanup, err := auth0.New(context.Background(), c, quiet, prometheus.NewRegistry())
			if err != nil {
				t.Errorf("%s: got %v, want nil", u, err)
				continue
			}
			cleanup()
		}
	})
}
