package jwtverify_test

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

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
)

// The benchmarks compare, in one run, full verification against the raw
// RSA signature check it cannot avoid, and cache hits against both:
//
//	go test -run '^$' -bench . -benchmem ./adapters/jwtverify/

// BenchmarkRawRSAVerify is the reference: one RS256 signature check with
// crypto/rsa (SHA-256 of the signing input, then PKCS #1 v1.5) on the same
// key and the same token the verifier benchmarks use.
func BenchmarkRawRSAVerify(b *testing.B) {
	iss := jwtverifytest.NewIssuer(b)
	tok := iss.Token(iss.Claims("auth0|bench", "read:messages"))
	i := strings.LastIndex(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
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
	iss := jwtverifytest.NewIssuer(b)
	tok := iss.Token(iss.Claims("auth0|bench", "read:messages"))
	for _, bc := range []struct {
		name  string
		cache int
	}{{"miss", 0}, {"hit", jwtverify.DefaultCacheSize}} {
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
	iss := jwtverifytest.NewIssuer(b)
	expired := iss.Claims("auth0|bench")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	h := jwtverifytest.Header(iss.Key)
	h["kid"] = "no-such-key"
	for _, bc := range []struct{ name, tok string }{
		{"bad_signature", iss.Token(iss.Claims("auth0|bench")) + "xx"},
		{"expired", iss.Token(expired)},
		{"unknown_kid", jwtverifytest.Sign(b, iss.Key, h, iss.Claims("auth0|bench"))},
		{"garbage", "invalidToken abc"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := benchVerifier(b, iss, jwtverify.DefaultCacheSize)
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

func benchVerifier(b *testing.B, iss *jwtverifytest.Issuer, cache int) *jwtverify.Verifier {
	cfg := newConfig(iss)
	cfg.CacheSize = cache
	v := newVerifier(b, cfg, quiet, prometheus.NewRegistry())
	waitReady(b, v)
	return v
}
