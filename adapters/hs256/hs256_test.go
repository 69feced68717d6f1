package hs256_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/hs256"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func start(t *testing.T, cfg hs256.Config) *hs256.Verifier {
	t.Helper()
	cfg.ClockTolerance = 5 * time.Second
	v, cleanup, err := hs256.New(context.Background(), cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready at once: got %v", err)
	}
	return v
}

func config() hs256.Config {
	return hs256.Config{Issuers: []string{"https://legacy.example/"}, Audiences: []string{"legacy-api"}, Secret: secret}
}

func TestContract(t *testing.T) {
	v := start(t, config())
	verifiertest.Run(t, verifiertest.Harness{
		Verifier: v, Issuer: "https://legacy.example/", Audience: "legacy-api",
		Mint: func(t *testing.T, g verifiertest.Grant) string {
			c := jwtverifytest.MustJSON(t, jwtverifytest.Lifetime(map[string]any{"iss": "https://legacy.example/", "aud": "legacy-api",
				"sub": g.Subject, "scope": strings.Join(g.Scopes, " ")}, g.TTL))
			return jwtverifytest.HMACToken(t, secret, `{"alg":"HS256","typ":"JWT"}`, c)
		},
	})
}

func TestHS256(t *testing.T) {
	v := start(t, config())
	claims := jwtverifytest.MustJSON(t, jwtverifytest.Lifetime(map[string]any{"iss": "https://legacy.example/", "aud": "legacy-api", "sub": "u1"}, time.Hour))
	if _, err := v.Verify(context.Background(), jwtverifytest.HMACToken(t, secret, `{"alg":"HS256","typ":"JWT"}`, claims)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	b64 := jwtverifytest.B64
	for _, tc := range []struct {
		name string
		tok  string
		want domain.Reason
	}{
		{"another secret", jwtverifytest.HMACToken(t, []byte("ffffffffffffffffffffffffffffffff"), `{"alg":"HS256"}`, claims), domain.ReasonSignature},
		{"HS512 not allowed", jwtverifytest.HMACToken(t, secret, `{"alg":"HS512"}`, claims), domain.ReasonAlgorithm},
		{"RS256 from a key pair", func() string {
			k := jwtverifytest.NewRSAKey(t, "k", 0)
			return jwtverifytest.SignRaw(t, k, "RS256", []byte(`{"alg":"RS256"}`), []byte(claims))
		}(), domain.ReasonAlgorithm},
		{"alg none", b64(`{"alg":"none"}`) + "." + b64(claims) + ".c2ln", domain.ReasonAlgorithm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tc.tok); jwtverifytest.Reason(t, err) != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestMisconfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  hs256.Config
		want string
	}{
		{"hs256 short secret", hs256.Config{Issuers: []string{"i"}, Audiences: []string{"a"}, Secret: []byte("short")}, "HS256_SECRET: is 5 bytes"},
		{"hs256 secret too short for HS512", hs256.Config{Issuers: []string{"i"}, Audiences: []string{"a"}, Secret: make([]byte, 32), Options: jwtverify.Options{Algorithms: []string{"HS512"}}}, "needs at least 64"},
		{"hs256 with RS256", hs256.Config{Issuers: []string{"i"}, Audiences: []string{"a"}, Secret: make([]byte, 32), Options: jwtverify.Options{Algorithms: []string{"RS256"}}}, "only HS256, HS384 and HS512"},
		{"no issuer", hs256.Config{Audiences: []string{"a"}, Secret: make([]byte, 32)}, "ISSUER_BASE_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := hs256.New(context.Background(), tc.cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	secretFile := jwtverifytest.WriteFile(t, "secret", []byte("0123456789abcdef0123456789abcdef\n"))
	base := map[string]string{"ISSUER_BASE_URL": "legacy", "AUDIENCE": "api"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := hs256.Load(jwtverifytest.Env(with("HS256_SECRET_FILE", secretFile)), jwtverify.Options{})
	if err != nil || string(c.Secret) != "0123456789abcdef0123456789abcdef" || !slices.Equal(c.Algorithms, []string{"HS256"}) {
		t.Errorf("from a file: got %q %q, %v", c.Secret, c.Algorithms, err)
	}
	c, err = hs256.Load(jwtverifytest.Env(with("HS256_SECRET", strings.Repeat("s", 64), "TOKEN_SIGNING_ALG", "HS512")), jwtverify.Options{})
	if err != nil || len(c.Secret) != 64 || !slices.Equal(c.Algorithms, []string{"HS512"}) {
		t.Errorf("from the environment: got %d bytes %q, %v", len(c.Secret), c.Algorithms, err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"short secret", with("HS256_SECRET", "short"), "HS256_SECRET: "},
		{"short secret in a file", with("HS256_SECRET_FILE", jwtverifytest.WriteFile(t, "s", []byte("short"))), "HS256_SECRET_FILE: is 5 bytes"},
		{"two secrets", with("HS256_SECRET", strings.Repeat("s", 32), "HS256_SECRET_FILE", secretFile), "HS256_SECRET and HS256_SECRET_FILE are both set"},
		{"secret file missing", with("HS256_SECRET_FILE", "/nope"), "HS256_SECRET_FILE: "},
		{"with RS256", with("HS256_SECRET", strings.Repeat("s", 32), "TOKEN_SIGNING_ALG", "RS256"), "TOKEN_SIGNING_ALG: "},
		{"without issuer", map[string]string{"AUDIENCE": "a", "HS256_SECRET": strings.Repeat("s", 32)}, "ISSUER_BASE_URL is required for AUTH_PROVIDER=hs256"},
		{"with a JWKS URI", with("HS256_SECRET", strings.Repeat("s", 32), "JWKS_URI", "https://x/jwks"), "JWKS_URI: the hs256 provider fetches nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hs256.Load(jwtverifytest.Env(tc.env), jwtverify.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
