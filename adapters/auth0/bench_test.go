package auth0_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/auth0/auth0test"
)

// The benchmarks compare, in one run, full verification against the raw
// RSA signature check it cannot avoid, and cache hits against both:
//
//	go test -run '^$' -bench . -benchmem ./adapters/auth0/

// BenchmarkRawRSAVerify is the reference: one RS256 signature check with
// crypto/rsa (SHA-256 of the signing input, then PKCS #1 v1.5) on the same
// key and the same token the verifier benchmarks use.
func BenchmarkRawRSAVerify(b *testing.B) {
	iss := auth0test.NewIssuer(b)
	tok := iss.Token(iss.Claims("auth0|bench", "read:messages"))
	i := strings.LastIndex(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	pub := iss.Key.Public().(*rsa.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256([]byte(tok[:i]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the verifier on a valid token: a cache miss (cache
// off) and a cache hit.
func BenchmarkVerify(b *testing.B) {
	iss := auth0test.NewIssuer(b)
	tok := iss.Token(iss.Claims("auth0|bench", "read:messages"))
	for _, bc := range []struct {
		name  string
		cache int
	}{{"miss", 0}, {"hit", auth0.DefaultCacheSize}} {
		b.Run(bc.name, func(b *testing.B) {
			v := benchVerifier(b, iss, bc.cache)
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyHostile is the verifier refusing tokens (with the cache
// on, as in production: refusals are never cached).
func BenchmarkVerifyHostile(b *testing.B) {
	iss := auth0test.NewIssuer(b)
	expired := iss.Claims("auth0|bench")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	h := auth0test.Header(iss.Key)
	h["kid"] = "no-such-key"
	for _, bc := range []struct{ name, tok string }{
		{"bad_signature", iss.Token(iss.Claims("auth0|bench")) + "xx"},
		{"expired", iss.Token(expired)},
		{"unknown_kid", auth0test.Sign(b, iss.Key, h, iss.Claims("auth0|bench"))},
		{"garbage", "invalidToken abc"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := benchVerifier(b, iss, auth0.DefaultCacheSize)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, bc.tok); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

func benchVerifier(b *testing.B, iss *auth0test.Issuer, cache int) *auth0.Verifier {
	v := newVerifier(b, auth0.Config{
		IssuerBaseURL: iss.URL, Audiences: []string{auth0test.Audience}, ClockTolerance: 5 * time.Second, CacheSize: cache,
	}, quiet, prometheus.NewRegistry())
	waitReady(b, v)
	return v
}
