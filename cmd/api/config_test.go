package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/cognito"
	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/entra"
	"github.com/example/spaapi/adapters/hs256"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/keycloak"
	"github.com/example/spaapi/adapters/oidc"
	"github.com/example/spaapi/adapters/okta"
	"github.com/example/spaapi/adapters/static"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/ports"
)

// env is an environment of exactly m, except that messages are kept in
// memory unless m says where (DATABASE_URL): tests never write to the
// home directory.
func env(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok || k != "DATABASE_URL" {
			return v
		}
		return "memory:"
	}
}

// configOf returns the chosen provider's loaded Config.
func configOf[C any](t *testing.T, c config) C {
	t.Helper()
	got, ok := c.identity.config.(C)
	if !ok {
		var want C
		t.Fatalf("provider %s loaded a %T, want a %T", c.identity.name, c.identity.config, want)
	}
	return got
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
		{"unknown log level", with("LOG_LEVEL", "loud"), nil, "LOG_LEVEL: "},
		{"traces over gRPC", with("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), nil, "OTEL_EXPORTER_OTLP_PROTOCOL: "},
		{"sampling ratio over 1", with("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", "OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"), nil, "OTEL_TRACES_SAMPLER_ARG: "},
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
		{"bad DPoP mode", with("DPOP_MODE", "require"), nil, `DPOP_MODE: "require" is not one of "allowed", "required", "disabled"`},
		{"DPoP mode in capitals", with("DPOP_MODE", "Required"), nil, "DPOP_MODE: "},
		{"bad DPoP mode flag", with(), []string{"-dpop-mode", "strict"}, `-dpop-mode: "strict" is not one of "allowed", "required", "disabled"`},
		{"HMAC DPoP proofs", with("DPOP_SIGNING_ALGS", "ES256,HS256"), nil, "DPOP_SIGNING_ALGS: "},
		{"unsigned DPoP proofs", with("DPOP_SIGNING_ALGS", "none"), nil, "DPOP_SIGNING_ALGS: "},
		{"bad DPoP iat offset", with("DPOP_IAT_OFFSET", "soon"), nil, "DPOP_IAT_OFFSET: "},
		{"huge DPoP iat offset", with("DPOP_IAT_OFFSET", "2h"), nil, "DPOP_IAT_OFFSET: "},
		{"bad DPoP iat leeway", with("DPOP_IAT_LEEWAY", "-1"), nil, "DPOP_IAT_LEEWAY: "},
		{"DPoP nonces without a secret", with("DPOP_NONCE", "on"), nil, "DPOP_NONCE_SECRET: "},
		{"DPoP nonces with a short secret", with("DPOP_NONCE", "on", "DPOP_NONCE_SECRET", "short"), nil, "DPOP_NONCE_SECRET: "},
		{"DPoP nonce secret without nonces", with("DPOP_NONCE_SECRET", strings.Repeat("s", 32)), nil, "DPOP_NONCE_SECRET is set"},
		{"DPoP nonce yes", with("DPOP_NONCE", "yes"), nil, `DPOP_NONCE: "yes" is not one of "on", "off"`},
		{"DPoP settings with DPoP disabled", with("DPOP_MODE", "disabled", "DPOP_IAT_OFFSET", "60"), nil, "DPOP_IAT_OFFSET is set, but DPOP_MODE is disabled"},
		{"Redis with DPoP disabled and no failure limit", with("DPOP_MODE", "disabled", "AUTH_FAILURE_LIMIT", "off", "REDIS_URL", "redis://127.0.0.1:6379/0"), nil,
			"REDIS_URL is set, but DPOP_MODE is disabled and AUTH_FAILURE_LIMIT is off"},
		{"Redis URL of another scheme, for the failure limit only", with("DPOP_MODE", "disabled", "REDIS_URL", "http://127.0.0.1:6379"), nil, "REDIS_URL: "},
		{"no proofs per key", with("DPOP_MAX_PROOFS_PER_KEY", "0"), nil, `DPOP_MAX_PROOFS_PER_KEY: "0" is not a number of proofs from 1 to 1048576`},
		{"proofs per token not a number", with("DPOP_MAX_PROOFS_PER_TOKEN", "lots"), nil, `DPOP_MAX_PROOFS_PER_TOKEN: "lots" is not a number of proofs`},
		{"more proofs per key than the cache holds", with("DPOP_MAX_PROOFS_PER_KEY", "2000000"), nil, "DPOP_MAX_PROOFS_PER_KEY: "},
		{"bad proofs-per-key flag", with(), []string{"-dpop-max-proofs-per-key", "-1"}, "-dpop-max-proofs-per-key: "},
		{"proofs per token with DPoP disabled", with("DPOP_MODE", "disabled", "DPOP_MAX_PROOFS_PER_TOKEN", "10"), nil, "DPOP_MAX_PROOFS_PER_TOKEN is set, but DPOP_MODE is disabled"},
		{"Redis URL of another scheme", with("REDIS_URL", "http://127.0.0.1:6379"), nil, "REDIS_URL: "},
		{"Redis URL with a bad port", with("REDIS_URL", "redis://127.0.0.1:port"), nil, "REDIS_URL: "},
		{"public URL with a query", with("PUBLIC_URL", "https://api.example.com/?x=1"), nil, "PUBLIC_URL, TRUSTED_PROXIES: "},
		{"public URL of another scheme", with("PUBLIC_URL", "ftp://api.example.com"), nil, "PUBLIC_URL, TRUSTED_PROXIES: "},
		{"trusted proxy that is a name", with("TRUSTED_PROXIES", "proxy.internal"), nil, "PUBLIC_URL, TRUSTED_PROXIES: "},
		{"empty trusted proxy", with("TRUSTED_PROXIES", "10.0.0.1,,10.0.0.2"), nil, "TRUSTED_PROXIES: "},
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
		a := configOf[auth0.Config](t, c)
		if a.IssuerBaseURL != "https://tenant.auth0.com/" {
			t.Errorf("issuer: got %q, want https://tenant.auth0.com/", a.IssuerBaseURL)
		}
		if !slices.Equal(a.Audiences, []string{"https://api"}) || !slices.Equal(a.Algorithms, []string{"RS256"}) {
			t.Errorf("audiences %q algorithms %q", a.Audiences, a.Algorithms)
		}
		if a.ClockTolerance != 5*time.Second || c.addr != ":8080" {
			t.Errorf("tolerance %v addr %q, want 5s :8080", a.ClockTolerance, c.addr)
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
		a := configOf[auth0.Config](t, c)
		if !slices.Equal(a.Audiences, []string{"a", "b"}) || !slices.Equal(a.Algorithms, []string{"RS256", "ES256"}) {
			t.Errorf("audiences %q algorithms %q", a.Audiences, a.Algorithms)
		}
		if a.JWKSURI != "https://id.example.com/keys" || a.ClockTolerance != 30*time.Second {
			t.Errorf("jwks %q tolerance %v", a.JWKSURI, a.ClockTolerance)
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
		if a := configOf[auth0.Config](t, c); !slices.Equal(a.Audiences, []string{"flag-aud"}) || c.addr != ":9999" {
			t.Errorf("audiences %q addr %q, want flag values", a.Audiences, c.addr)
		}
	})
	t.Run("domain and issuer that agree", func(t *testing.T) {
		c, err := loadConfig(nil, env(map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "ISSUER_BASE_URL": "https://t.auth0.com", "AUDIENCE": "a"}), io.Discard)
		if err != nil || configOf[auth0.Config](t, c).IssuerBaseURL != "https://t.auth0.com" {
			t.Errorf("got %+v, %v", c.identity.config, err)
		}
	})
	t.Run("RFC 9864's Ed25519 beside EdDSA", func(t *testing.T) {
		c, err := loadConfig(nil, env(map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "TOKEN_SIGNING_ALG": "Ed25519,EdDSA"}), io.Discard)
		if err != nil || !slices.Equal(configOf[auth0.Config](t, c).Algorithms, []string{"Ed25519", "EdDSA"}) {
			t.Errorf("got %+v, %v; want algorithms [Ed25519 EdDSA]", c.identity.config, err)
		}
	})
	t.Run("DPoP defaults", func(t *testing.T) {
		c, err := loadConfig(nil, env(map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a"}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.dpop.mode != app.DPoPAllowed || c.dpop.redisURL != "" || c.dpop.proofs.NonceSecret != nil || c.web.HTU == nil ||
			!slices.Equal(c.dpop.proofs.Algorithms, dpop.DefaultAlgorithms) || c.dpop.proofs.IATOffset != 300*time.Second ||
			c.dpop.shares != (ports.ReplayShares{PerKey: 65536, PerToken: 32768}) {
			t.Errorf("got %+v", c.dpop)
		}
	})
	t.Run("DPoP settings", func(t *testing.T) {
		secret := strings.Repeat("k", 32)
		c, err := loadConfig([]string{"-dpop-mode", "required"}, env(map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a",
			"DPOP_MODE": "disabled", "DPOP_SIGNING_ALGS": "ES256, EdDSA", "DPOP_IAT_OFFSET": "2m", "DPOP_IAT_LEEWAY": "5",
			"DPOP_NONCE": "on", "DPOP_NONCE_SECRET": secret, "DPOP_NONCE_WINDOW": "30s", "DPOP_MAX_PROOFS_PER_KEY": "1000", "DPOP_MAX_PROOFS_PER_TOKEN": "100",
			"REDIS_URL": "redis://user:hunter2hunter2@127.0.0.1:6390/2", "PUBLIC_URL": "https://API.example.com:443/base"}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		p := c.dpop.proofs
		if c.dpop.mode != app.DPoPRequired || !slices.Equal(p.Algorithms, []string{"ES256", "EdDSA"}) || p.IATOffset != 2*time.Minute ||
			p.IATLeeway != 5*time.Second || string(p.NonceSecret) != secret || p.NonceWindow != 30*time.Second {
			t.Errorf("got mode %v, %+v", c.dpop.mode, p)
		}
		if c.dpop.shares != (ports.ReplayShares{PerKey: 1000, PerToken: 100}) {
			t.Errorf("shares: got %+v, want 1000 per key, 100 per token", c.dpop.shares)
		}
		if c.dpop.redisURL == "" || strings.Contains(c.dpop.display, "hunter2") {
			t.Errorf("redis %q, shown as %q: want it used, and never its password shown", c.dpop.redisURL, c.dpop.display)
		}
		req := httptest.NewRequest("GET", "http://10.0.0.5:8080/api/private?x=1", nil)
		if got := c.web.HTU(req); got != "https://api.example.com/base/api/private" {
			t.Errorf("htu behind PUBLIC_URL: got %q", got)
		}
	})
	t.Run("loopback issuer over http", func(t *testing.T) {
		c, err := loadConfig(nil, env(map[string]string{"AUTH0_DOMAIN": "http://localhost:4000", "AUDIENCE": "a"}), io.Discard)
		if err != nil || configOf[auth0.Config](t, c).IssuerBaseURL != "http://localhost:4000/" {
			t.Errorf("got %+v, %v", c.identity.config, err)
		}
	})
}

func TestProviderConfig(t *testing.T) {
	keyFile := jwtverifytest.WriteFile(t, "key.pem", jwtverifytest.PEMPublic(t, jwtverifytest.NewRSAKey(t, "k", 0)))
	secretFile := jwtverifytest.WriteFile(t, "secret", []byte("0123456789abcdef0123456789abcdef\n"))

	t.Run("valid", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			env   map[string]string
			check func(t *testing.T, c config) bool
		}{
			{"oidc with roles", map[string]string{"AUTH_PROVIDER": "oidc", "ISSUER_BASE_URL": "https://id.example.com/realms/demo", "AUDIENCE": "demo-api", "ROLES_CLAIM": "realm_access.roles, groups"},
				func(t *testing.T, c config) bool {
					o := configOf[oidc.Config](t, c)
					return c.identity.name == "oidc" && slices.Equal(o.RolesClaims, []string{"realm_access.roles", "groups"})
				}},
			{"several issuers", map[string]string{"ISSUER_BASE_URL": "https://a.auth0.com/,https://b.auth0.com/", "AUDIENCE": "api"},
				func(t *testing.T, c config) bool {
					a := configOf[auth0.Config](t, c)
					return slices.Equal(a.Issuers, []string{"https://a.auth0.com/", "https://b.auth0.com/"}) && a.IssuerBaseURL == ""
				}},
			{"cognito", map[string]string{"AUTH_PROVIDER": "cognito", "COGNITO_USER_POOL_ID": "eu-west-1_AbC123", "COGNITO_CLIENT_IDS": "c1,c2"},
				func(t *testing.T, c config) bool {
					g := configOf[cognito.Config](t, c)
					return g.UserPoolID == "eu-west-1_AbC123" && slices.Equal(g.ClientIDs, []string{"c1", "c2"})
				}},
			{"entra", map[string]string{"AUTH_PROVIDER": "entra", "ENTRA_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47", "ENTRA_CLIENT_ID": "6e74172b-be56-4843-9ff4-e66a39bb12e3"},
				func(t *testing.T, c config) bool {
					e := configOf[entra.Config](t, c)
					return e.TenantID != "" && len(e.Audiences) == 0
				}},
			{"keycloak", map[string]string{"AUTH_PROVIDER": "keycloak", "KEYCLOAK_URL": "https://keycloak.example.com", "KEYCLOAK_REALM": "demo", "KEYCLOAK_CLIENT_ID": "demo-api"},
				func(t *testing.T, c config) bool {
					k := configOf[keycloak.Config](t, c)
					return k.Issuer() == "https://keycloak.example.com/realms/demo" && k.ClientID == "demo-api"
				}},
			{"okta", map[string]string{"AUTH_PROVIDER": "okta", "OKTA_DOMAIN": "dev-123456.okta.com"},
				func(t *testing.T, c config) bool {
					return configOf[okta.Config](t, c).Issuer() == "https://dev-123456.okta.com/oauth2/default"
				}},
			{"static", map[string]string{"AUTH_PROVIDER": "static", "ISSUER_BASE_URL": "internal-idp", "AUDIENCE": "api", "KEY_FILE": keyFile},
				func(t *testing.T, c config) bool {
					k := configOf[static.Config](t, c)
					return k.KeyFile == keyFile && slices.Equal(k.Issuers, []string{"internal-idp"})
				}},
			{"hs256 from a file", map[string]string{"AUTH_PROVIDER": "hs256", "ISSUER_BASE_URL": "legacy", "AUDIENCE": "api", "HS256_SECRET_FILE": secretFile},
				func(t *testing.T, c config) bool {
					h := configOf[hs256.Config](t, c)
					return string(h.Secret) == "0123456789abcdef0123456789abcdef" && slices.Equal(h.Algorithms, []string{"HS256"})
				}},
			{"hs256 from the environment", map[string]string{"AUTH_PROVIDER": "hs256", "ISSUER_BASE_URL": "legacy", "AUDIENCE": "api", "HS256_SECRET": strings.Repeat("s", 64), "TOKEN_SIGNING_ALG": "HS512"},
				func(t *testing.T, c config) bool {
					h := configOf[hs256.Config](t, c)
					return len(h.Secret) == 64 && slices.Equal(h.Algorithms, []string{"HS512"})
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := loadConfig(nil, env(tc.env), io.Discard)
				if err != nil {
					t.Fatalf("got %v", err)
				}
				if !tc.check(t, c) {
					t.Errorf("unexpected config %+v", c.identity.config)
				}
			})
		}
	})

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown provider", map[string]string{"AUTH_PROVIDER": "pingfederate", "ISSUER_BASE_URL": "https://x/", "AUDIENCE": "a"}, nil, "AUTH_PROVIDER: "},
		{"cognito pool malformed", map[string]string{"AUTH_PROVIDER": "cognito", "COGNITO_USER_POOL_ID": "AbC123", "COGNITO_CLIENT_IDS": "c"}, nil, "COGNITO_USER_POOL_ID: "},
		{"cognito region mismatch", map[string]string{"AUTH_PROVIDER": "cognito", "COGNITO_USER_POOL_ID": "eu-west-1_AbC123", "COGNITO_REGION": "us-east-1", "COGNITO_CLIENT_IDS": "c"}, nil, "COGNITO_REGION: "},
		{"cognito without clients", map[string]string{"AUTH_PROVIDER": "cognito", "COGNITO_USER_POOL_ID": "eu-west-1_AbC123"}, nil, "COGNITO_CLIENT_IDS: "},
		{"cognito with an audience", map[string]string{"AUTH_PROVIDER": "cognito", "COGNITO_USER_POOL_ID": "eu-west-1_AbC123", "COGNITO_CLIENT_IDS": "c", "AUDIENCE": "a"}, nil, "AUDIENCE is set, but Cognito access tokens have no aud"},
		{"cognito with an issuer", map[string]string{"AUTH_PROVIDER": "cognito", "COGNITO_USER_POOL_ID": "eu-west-1_AbC123", "COGNITO_CLIENT_IDS": "c", "ISSUER_BASE_URL": "https://x/"}, nil, "ISSUER_BASE_URL is set, but AUTH_PROVIDER=cognito"},
		{"entra tenant by name", map[string]string{"AUTH_PROVIDER": "entra", "ENTRA_TENANT_ID": "contoso.onmicrosoft.com", "ENTRA_CLIENT_ID": "6e74172b-be56-4843-9ff4-e66a39bb12e3"}, nil, "ENTRA_TENANT_ID: "},
		{"entra without client", map[string]string{"AUTH_PROVIDER": "entra", "ENTRA_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47"}, nil, "ENTRA_CLIENT_ID: "},
		{"entra setting with auth0", map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "ENTRA_TENANT_ID": "x"}, nil, "ENTRA_TENANT_ID is set, but AUTH_PROVIDER is auth0"},
		{"static without key file", map[string]string{"AUTH_PROVIDER": "static", "ISSUER_BASE_URL": "i", "AUDIENCE": "a"}, nil, "KEY_FILE: "},
		{"static key file missing", map[string]string{"AUTH_PROVIDER": "static", "ISSUER_BASE_URL": "i", "AUDIENCE": "a", "KEY_FILE": "/nope.pem"}, nil, "KEY_FILE: "},
		{"static without issuer", map[string]string{"AUTH_PROVIDER": "static", "AUDIENCE": "a", "KEY_FILE": keyFile}, nil, "ISSUER_BASE_URL is required for AUTH_PROVIDER=static"},
		{"hs256 short secret", map[string]string{"AUTH_PROVIDER": "hs256", "ISSUER_BASE_URL": "i", "AUDIENCE": "a", "HS256_SECRET": "short"}, nil, "HS256_SECRET: "},
		{"hs256 two secrets", map[string]string{"AUTH_PROVIDER": "hs256", "ISSUER_BASE_URL": "i", "AUDIENCE": "a", "HS256_SECRET": strings.Repeat("s", 32), "HS256_SECRET_FILE": secretFile}, nil, "HS256_SECRET and HS256_SECRET_FILE are both set"},
		{"hs256 secret file missing", map[string]string{"AUTH_PROVIDER": "hs256", "ISSUER_BASE_URL": "i", "AUDIENCE": "a", "HS256_SECRET_FILE": "/nope"}, nil, "HS256_SECRET_FILE: "},
		{"hs256 with RS256", map[string]string{"AUTH_PROVIDER": "hs256", "ISSUER_BASE_URL": "i", "AUDIENCE": "a", "HS256_SECRET": strings.Repeat("s", 32), "TOKEN_SIGNING_ALG": "RS256"}, nil, "TOKEN_SIGNING_ALG: "},
		{"key file with auth0", map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "KEY_FILE": keyFile}, nil, "KEY_FILE is set, but AUTH_PROVIDER is auth0 (it belongs to static)"},
		{"cognito setting with oidc", map[string]string{"AUTH_PROVIDER": "oidc", "ISSUER_BASE_URL": "https://t/", "AUDIENCE": "a", "COGNITO_CLIENT_IDS": "c"}, nil, "COGNITO_CLIENT_IDS is set, but AUTH_PROVIDER is oidc (it belongs to cognito)"},
		{"auth0 domain with oidc", map[string]string{"AUTH_PROVIDER": "oidc", "AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a"}, nil, "AUTH0_DOMAIN is set, but AUTH_PROVIDER is oidc (it belongs to auth0)"},
		{"secret with auth0", map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "HS256_SECRET": strings.Repeat("s", 32)}, nil, "HS256_SECRET is set, but AUTH_PROVIDER is auth0"},
		{"several issuers with a domain", map[string]string{"ISSUER_BASE_URL": "https://a/,https://b/", "AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a"}, nil, "AUTH0_DOMAIN is set, but it names one Auth0 issuer"},
		{"several issuers, one bad", map[string]string{"ISSUER_BASE_URL": "https://a.example/,http://b.example/", "AUDIENCE": "a"}, nil, "ISSUER_BASE_URL: "},
		{"dev with another provider", map[string]string{"AUTH_PROVIDER": "oidc", "HOME": "/tmp"}, []string{"-dev"}, "AUTH_PROVIDER is oidc, but -dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.args, env(tc.env), io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line starting %q", err, tc.want)
			}
		})
	}
}

// Without an issuer, the error says how to try the API without one; not
// when an issuer setting is there but wrong, or another provider chosen.
func TestNoIssuerMentionsDev(t *testing.T) {
	const hint = "; to try it locally without an issuer run: go run ./cmd/api -dev"
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", nil, "ISSUER_BASE_URL (or AUTH0_DOMAIN) is required: set it to your token issuer, e.g. https://TENANT.auth0.com/" + hint},
		{"an audience only", map[string]string{"AUDIENCE": "https://api.example.com"},
			"ISSUER_BASE_URL (or AUTH0_DOMAIN) is required: set it to your token issuer, e.g. https://TENANT.auth0.com/" + hint},
		{"an issuer, no audience", map[string]string{"AUTH0_DOMAIN": "tenant.auth0.com"},
			"AUDIENCE is required: set it to your API's identifier (Auth0 dashboard > APIs), e.g. https://api.example.com"},
		{"another provider", map[string]string{"AUTH_PROVIDER": "oidc"},
			"ISSUER_BASE_URL is required for AUTH_PROVIDER=oidc: the issuer (the exact iss of the tokens)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(nil, env(tc.env), io.Discard)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// AUTH_PROVIDER is checked before anything else, against the registry,
// and the message lists the valid names, quoted.
func TestProviderNameFirst(t *testing.T) {
	names := `"` + strings.Join(providerNames(), `", "`) + `"`
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown, nothing else set", map[string]string{"AUTH_PROVIDER": "bogus"}, nil, `AUTH_PROVIDER: "bogus" is not one of ` + names},
		{"the names as they read", map[string]string{"AUTH_PROVIDER": "azure"}, nil,
			`AUTH_PROVIDER: "azure" is not one of "auth0", "cognito", "entra", "hs256", "introspection", "keycloak", "oidc", "okta", "static"`},
		{"wrong case", map[string]string{"AUTH_PROVIDER": "Auth0"}, nil, `AUTH_PROVIDER: "Auth0" is not one of ` + names + " (names are lower case: auth0)"},
		{"unknown by flag", map[string]string{}, []string{"-auth-provider", "keycloak2"}, `-auth-provider: "keycloak2" is not one of ` + names},
		{"unknown with -dev", map[string]string{"AUTH_PROVIDER": "bogus", "HOME": "/tmp"}, []string{"-dev"}, `AUTH_PROVIDER: "bogus" is not one of ` + names},
		{"unknown with another provider's settings", map[string]string{"AUTH_PROVIDER": "bogus", "KEY_FILE": "/k.pem"}, nil, `AUTH_PROVIDER: "bogus" is not one of ` + names},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.args, env(tc.env), io.Discard)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// Every setting a provider declares is a flag and a variable, and stops
// start-up when another provider is chosen, naming its owner.
func TestProviderSettingsBelongToTheirProvider(t *testing.T) {
	var usage bytes.Buffer
	if _, err := loadConfig([]string{"-h"}, env(nil), &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: got %v, want flag.ErrHelp", err)
	}
	for _, owner := range providerNames() {
		if !strings.Contains(usage.String(), owner) {
			t.Errorf("-h does not list provider %s:\n%s", owner, usage.String())
		}
		for _, s := range providers[owner].settings {
			if s.Flag != "" && !strings.Contains(usage.String(), "-"+s.Flag) {
				t.Errorf("-h lacks -%s", s.Flag)
			}
			if s.Flag == "" && strings.Contains(usage.String(), "-"+strings.ToLower(strings.ReplaceAll(s.Var, "_", "-"))+" ") {
				t.Errorf("%s is a secret but has a flag", s.Var)
			}
			other := "oidc"
			if owner == other {
				other = defaultProvider
			}
			e := map[string]string{"AUTH_PROVIDER": other, s.Var: "x"}
			_, err := loadConfig(nil, env(e), io.Discard)
			want := s.Var + " is set, but AUTH_PROVIDER is " + other + " (it belongs to " + owner + ")"
			if err == nil || err.Error() != want {
				t.Errorf("%s under %s: got %v, want %q", s.Var, other, err, want)
			}
			if s.Flag != "" {
				_, err := loadConfig([]string{"-" + s.Flag, "x"}, env(map[string]string{"AUTH_PROVIDER": other}), io.Discard)
				want := "-" + s.Flag + " is set, but AUTH_PROVIDER is " + other + " (it belongs to " + owner + ")"
				if err == nil || err.Error() != want {
					t.Errorf("-%s under %s: got %v, want %q", s.Flag, other, err, want)
				}
			}
		}
	}
}
