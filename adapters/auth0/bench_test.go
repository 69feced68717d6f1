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

	"github.com/example/spaapi/adapters/auth0"

	"github.com/example/spaapi/adapters/auth0/auth0test"
)

// BenchmarkRawRSAVerify is the reference: one RS256 signature check with
// crypto/rsa on the same key and token the verifier benchmarks use.
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

// BenchmarkVerify is a full verification of a valid token.
func BenchmarkVerify(b *testing.B) {
	iss := auth0test.NewIssuer(b)
	v, cleanup, err := newBenchVerifier(iss)
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	tok := iss.Token(iss.Claims("auth0|bench", "read:messages"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchVerifier(iss *auth0test.Issuer) (*auth0.Verifier, func(), error) {
	v, cleanup, err := auth0.New(context.Background(), auth0.Config{
		IssuerBaseURL: iss.URL, Audiences: []string{auth0test.Audience}}, quiet)
	if err != nil {
		return nil, nil, err
	}
	for v.Ready(context.Background()) != nil {
		time.Sleep(5 * time.Millisecond)
	}
	return v, cleanup, nil
}
