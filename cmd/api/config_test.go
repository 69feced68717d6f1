package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigErrors(t *testing.T) {
	// with returns a working environment changed by key, value pairs; an
	// empty value removes the key.
	with := func(kv ...string) map[string]string {
		m := map[string]string{"ISSUER_BASE_URL": "https://tenant.auth0.com/", "AUDIENCE": "https://api.example.com"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string // the one-line message starts with this: the variable's name
	}{
		{"nothing set", map[string]string{}, nil, "ISSUER_BASE_URL (or AUTH0_DOMAIN) is required"},
		{"no audience", with("AUDIENCE", ""), nil, "AUDIENCE is required"},
		{"http issuer", with("ISSUER_BASE_URL", "http://tenant.auth0.com/"), nil, "ISSUER_BASE_URL: "},
		{"not a URL", with("ISSUER_BASE_URL", "tenant.auth0.com"), nil, "ISSUER_BASE_URL: "},
		{"discovery URL", with("ISSUER_BASE_URL", "https://tenant.auth0.com/.well-known/openid-configuration"), nil, "ISSUER_BASE_URL: "},
		{"domain with a path", with("ISSUER_BASE_URL", "", "AUTH0_DOMAIN", "tenant.auth0.com/x"), nil, "AUTH0_DOMAIN: "},
		{"domain over http", with("ISSUER_BASE_URL", "", "AUTH0_DOMAIN", "http://tenant.auth0.com"), nil, "AUTH0_DOMAIN: "},
		{"issuer and domain disagree", with("ISSUER_BASE_URL", "https://a.auth0.com/", "AUTH0_DOMAIN", "b.auth0.com"), nil, `ISSUER_BASE_URL ("https://a.auth0.com/") and AUTH0_DOMAIN`},
		{"audiences disagree", with("AUDIENCE", "a", "AUTH0_AUDIENCE", "b"), nil, "AUDIENCE and AUTH0_AUDIENCE disagree"},
		{"empty audience item", with("AUDIENCE", "a,,b"), nil, "AUDIENCE: "},
		{"http JWKS", with("JWKS_URI", "http://keys.example.com/jwks.json"), nil, "JWKS_URI: "},
		{"HS256", with("TOKEN_SIGNING_ALG", "HS256"), nil, "TOKEN_SIGNING_ALG: "},
		{"none", with("TOKEN_SIGNING_ALG", "RS256,none"), nil, "TOKEN_SIGNING_ALG: "},
		{"lower-case alg", with("TOKEN_SIGNING_ALG", "rs256"), nil, "TOKEN_SIGNING_ALG: "},
		{"bad tolerance", with("CLOCK_TOLERANCE", "soon"), nil, "CLOCK_TOLERANCE: "},
		{"negative tolerance", with("CLOCK_TOLERANCE", "-5s"), nil, "CLOCK_TOLERANCE: "},
		{"huge tolerance", with("CLOCK_TOLERANCE", "2h"), nil, "CLOCK_TOLERANCE: "},
		{"bad origin", with("ALLOWED_ORIGINS", "localhost:3000"), nil, "ALLOWED_ORIGINS: "},
		{"origin with path", with("ALLOWED_ORIGINS", "https://app.example.com/app"), nil, "ALLOWED_ORIGINS: "},
		{"bad port", with("PORT", "http"), nil, "PORT: "},
		{"port out of range", with("PORT", "70000"), nil, "PORT: "},
		{"bad addr", with("ADDR", "8080"), nil, "ADDR: "},
		{"bad flag value names the flag", with(), []string{"-token-signing-alg", "HS512"}, "-token-signing-alg: "},
		{"stray argument", with(), []string{"serve"}, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.args, env(tc.env), io.Discard)
			if err == nil {
				t.Fatalf("got no error, want one starting %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %q, want one line starting %q", err, tc.want)
			}
		})
	}
}

func TestConfigValues(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := loadConfig(nil, env(map[string]string{"AUTH0_DOMAIN": "tenant.auth0.com", "AUTH0_AUDIENCE": "https://api"}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.auth.IssuerBaseURL != "https://tenant.auth0.com/" {
			t.Errorf("issuer: got %q, want https://tenant.auth0.com/", c.auth.IssuerBaseURL)
		}
		if !slices.Equal(c.auth.Audiences, []string{"https://api"}) || !slices.Equal(c.auth.Algorithms, []string{"RS256"}) {
			t.Errorf("audiences %q algorithms %q", c.auth.Audiences, c.auth.Algorithms)
		}
		if c.auth.ClockTolerance != 5*time.Second || c.addr != ":8080" {
			t.Errorf("tolerance %v addr %q, want 5s :8080", c.auth.ClockTolerance, c.addr)
		}
		if !slices.Equal(c.web.AllowedOrigins, []string{"http://localhost:3000", "http://localhost:5173"}) {
			t.Errorf("origins %q", c.web.AllowedOrigins)
		}
	})
	t.Run("everything set", func(t *testing.T) {
		c, err := loadConfig(nil, env(map[string]string{
			"ISSUER_BASE_URL": "https://id.example.com/realms/x",
			"AUDIENCE":        "a, b", "JWKS_URI": "https://id.example.com/keys", "TOKEN_SIGNING_ALG": "RS256, ES256",
			"CLOCK_TOLERANCE": "30", "ALLOWED_ORIGINS": "https://App.example.com/", "PORT": "9000", "ADDR": "127.0.0.1:7000",
		}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.auth.Audiences, []string{"a", "b"}) || !slices.Equal(c.auth.Algorithms, []string{"RS256", "ES256"}) {
			t.Errorf("audiences %q algorithms %q", c.auth.Audiences, c.auth.Algorithms)
		}
		if c.auth.JWKSURI != "https://id.example.com/keys" || c.auth.ClockTolerance != 30*time.Second {
			t.Errorf("jwks %q tolerance %v", c.auth.JWKSURI, c.auth.ClockTolerance)
		}
		if c.addr != "127.0.0.1:7000" {
			t.Errorf("ADDR must win over PORT: got %q", c.addr)
		}
		if !slices.Equal(c.web.AllowedOrigins, []string{"https://app.example.com"}) {
			t.Errorf("origins %q", c.web.AllowedOrigins)
		}
	})
	t.Run("flags win over the environment", func(t *testing.T) {
		c, err := loadConfig([]string{"-audience", "flag-aud", "-port", "9999"},
			env(map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "env-aud", "PORT": "1"}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.auth.Audiences, []string{"flag-aud"}) || c.addr != ":9999" {
			t.Errorf("audiences %q addr %q, want flag values", c.auth.Audiences, c.addr)
		}
	})
	t.Run("domain and issuer that agree", func(t *testing.T) {
		c, err := loadConfig(nil, env(map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "ISSUER_BASE_URL": "https://t.auth0.com", "AUDIENCE": "a"}), io.Discard)
		if err != nil || c.auth.IssuerBaseURL != "https://t.auth0.com" {
			t.Errorf("got %q, %v", c.auth.IssuerBaseURL, err)
		}
	})
	t.Run("loopback issuer over http", func(t *testing.T) {
		c, err := loadConfig(nil, env(map[string]string{"AUTH0_DOMAIN": "http://localhost:4000", "AUDIENCE": "a"}), io.Discard)
		if err != nil || c.auth.IssuerBaseURL != "http://localhost:4000/" {
			t.Errorf("got %q, %v", c.auth.IssuerBaseURL, err)
		}
	})
}
