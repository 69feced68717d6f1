package static_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/static"
	"github.com/example/spaapi/ports/verifiertest"
)

func start(t *testing.T, cfg static.Config) *static.Verifier {
	t.Helper()
	cfg.ClockTolerance = 5 * time.Second
	v, cleanup, err := static.New(context.Background(), cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready at once: got %v", err)
	}
	return v
}

func TestContract(t *testing.T) {
	key := jwtverifytest.NewRSAKey(t, "file-key", 2)
	file := jwtverifytest.WriteFile(t, "key.pem", jwtverifytest.PEMPublic(t, key))
	v := start(t, static.Config{Issuers: []string{"https://idp.internal.example/"},
		Audiences: []string{"https://api.internal.example"}, KeyFile: file})
	verifiertest.Run(t, verifiertest.Harness{
		Verifier: v, Issuer: "https://idp.internal.example/", Audience: "https://api.internal.example",
		Mint: func(t *testing.T, g verifiertest.Grant) string {
			return jwtverifytest.Sign(t, key, jwtverifytest.Header(key), jwtverifytest.Lifetime(map[string]any{
				"iss": "https://idp.internal.example/", "aud": "https://api.internal.example",
				"sub": g.Subject, "scope": strings.Join(g.Scopes, " "),
			}, g.TTL))
		},
	})
}

func TestKeyFiles(t *testing.T) {
	key := jwtverifytest.NewRSAKey(t, "file-key", 2)
	ec := jwtverifytest.NewECKey(t, "ec-file", "ES256")
	claims := func() map[string]any {
		return jwtverifytest.Lifetime(map[string]any{"iss": "https://idp.internal.example/", "aud": "api", "sub": "svc"}, time.Hour)
	}
	certPEM := func() []byte {
		tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key.Private)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	jwks := func(keys ...*jwtverifytest.Key) []byte {
		var raws []json.RawMessage
		for _, k := range keys {
			raws = append(raws, k.JWK(t))
		}
		b, err := json.Marshal(map[string]any{"keys": raws})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		content []byte
		algs    []string
		tok     func(t *testing.T) string
	}{
		{"PEM public key, token naming any kid", jwtverifytest.PEMPublic(t, key), nil, func(t *testing.T) string {
			h := jwtverifytest.Header(key)
			h["kid"] = "whatever"
			return jwtverifytest.Sign(t, key, h, claims())
		}},
		{"PEM certificate, token without kid", certPEM(), nil, func(t *testing.T) string {
			h := jwtverifytest.Header(key)
			delete(h, "kid")
			return jwtverifytest.Sign(t, key, h, claims())
		}},
		{"one JWK", key.JWK(t), nil, func(t *testing.T) string { return jwtverifytest.Sign(t, key, jwtverifytest.Header(key), claims()) }},
		{"JWKS with an EC key", jwks(key, ec), []string{"RS256", "ES256"}, func(t *testing.T) string {
			return jwtverifytest.Sign(t, ec, jwtverifytest.Header(ec), claims())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := start(t, static.Config{Issuers: []string{"https://idp.internal.example/"}, Audiences: []string{"api"},
				KeyFile: jwtverifytest.WriteFile(t, "keys", tc.content), Options: jwtverify.Options{Algorithms: tc.algs}})
			if _, err := v.Verify(context.Background(), tc.tok(t)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			other := jwtverifytest.NewRSAKey(t, "file-key", 1)
			if _, err := v.Verify(context.Background(), jwtverifytest.Sign(t, other, jwtverifytest.Header(other), claims())); err == nil {
				t.Errorf("token signed by a key not in the file accepted")
			}
		})
	}
}

func TestMisconfiguration(t *testing.T) {
	privDER, err := x509.MarshalPKCS8PrivateKey(jwtverifytest.NewRSAKey(t, "private", 0).Private)
	if err != nil {
		t.Fatal(err)
	}
	privFile := jwtverifytest.WriteFile(t, "private.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	weak := jwtverifytest.WriteFile(t, "weak.pem", jwtverifytest.PEMPublic(t, jwtverifytest.NewRSAKeyBits(t, "w", 1024)))
	for _, tc := range []struct {
		name string
		cfg  static.Config
		want string
	}{
		{"static without key file", static.Config{Issuers: []string{"i"}, Audiences: []string{"a"}}, "KEY_FILE: required"},
		{"static with a missing file", static.Config{Issuers: []string{"i"}, Audiences: []string{"a"}, KeyFile: "/nonexistent/keys.pem"}, "no such file"},
		{"static with a private key", static.Config{Issuers: []string{"i"}, Audiences: []string{"a"}, KeyFile: privFile}, "private keys are refused"},
		{"static with a weak key", static.Config{Issuers: []string{"i"}, Audiences: []string{"a"}, KeyFile: weak}, "no usable key"},
		{"issuer with a space", static.Config{Issuers: []string{"internal idp"}, Audiences: []string{"a"}, KeyFile: weak}, "without spaces"},
		{"no audience", static.Config{Issuers: []string{"i"}, KeyFile: weak}, "AUDIENCE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := static.New(context.Background(), tc.cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	keyFile := jwtverifytest.WriteFile(t, "key.pem", jwtverifytest.PEMPublic(t, jwtverifytest.NewRSAKey(t, "k", 0)))
	c, err := static.Load(jwtverifytest.Env(map[string]string{"ISSUER_BASE_URL": "internal-idp", "AUDIENCE": "api", "KEY_FILE": keyFile}), jwtverify.Options{})
	if err != nil || c.KeyFile != keyFile || len(c.Issuers) != 1 || c.Issuers[0] != "internal-idp" {
		t.Errorf("got %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"without key file", map[string]string{"ISSUER_BASE_URL": "i", "AUDIENCE": "a"}, "KEY_FILE: "},
		{"key file missing", map[string]string{"ISSUER_BASE_URL": "i", "AUDIENCE": "a", "KEY_FILE": "/nope.pem"}, "KEY_FILE: "},
		{"without issuer", map[string]string{"AUDIENCE": "a", "KEY_FILE": keyFile}, "ISSUER_BASE_URL is required for AUTH_PROVIDER=static"},
		{"with a JWKS URI", map[string]string{"ISSUER_BASE_URL": "i", "AUDIENCE": "a", "KEY_FILE": keyFile, "JWKS_URI": "https://x/jwks"}, "JWKS_URI: the static provider fetches nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := static.Load(jwtverifytest.Env(tc.env), jwtverify.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
