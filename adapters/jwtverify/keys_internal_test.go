package jwtverify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// keyFits is the last check between a token's alg and a key: the family,
// the exact curve, RSA and shared-secret sizes. The allow-list and the key
// loaders refuse most unfit pairs before it, so it is tested here alone.
func TestKeyFits(t *testing.T) {
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec := map[string]*ecdsa.PublicKey{}
	for alg, curve := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ec[alg] = &k.PublicKey
	}
	ed, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(n int) []byte { return make([]byte, n) }

	for _, tc := range []struct {
		name string
		alg  string
		key  any
		want bool
	}{
		{"RS256, 2048 bits", "RS256", &rsa2048.PublicKey, true},
		{"PS512, 2048 bits", "PS512", &rsa2048.PublicKey, true},
		{"RS256, 1024 bits", "RS256", &rsa1024.PublicKey, false},
		{"PS256, 1024 bits", "PS256", &rsa1024.PublicKey, false},
		{"ES256 with an RSA key", "ES256", &rsa2048.PublicKey, false},
		{"HS256 with an RSA key", "HS256", &rsa2048.PublicKey, false},
		{"ES256, P-256", "ES256", ec["ES256"], true},
		{"ES384, P-384", "ES384", ec["ES384"], true},
		{"ES512, P-521", "ES512", ec["ES512"], true},
		{"ES256, P-384", "ES256", ec["ES384"], false},
		{"ES384, P-256", "ES384", ec["ES256"], false},
		{"ES512, P-256", "ES512", ec["ES256"], false},
		{"RS256 with an EC key", "RS256", ec["ES256"], false},
		{"EdDSA, Ed25519", "EdDSA", ed, true},
		{"Ed25519, Ed25519", "Ed25519", ed, true},
		{"Ed25519, a truncated key", "Ed25519", ed[:31], false},
		{"ES256 with an Ed25519 key", "ES256", ed, false},
		{"HS256, 32 bytes", "HS256", secret(32), true},
		{"HS256, 31 bytes", "HS256", secret(31), false},
		{"HS384, 48 bytes", "HS384", secret(48), true},
		{"HS384, 47 bytes", "HS384", secret(47), false},
		{"HS512, 64 bytes", "HS512", secret(64), true},
		{"HS512, 63 bytes", "HS512", secret(63), false},
		{"RS256 with a secret", "RS256", secret(64), false},
		{"none with a secret", "none", secret(64), false},
		{"none with an RSA key", "none", &rsa2048.PublicKey, false},
	} {
		if got := keyFits(tc.alg, tc.key); got != tc.want {
			t.Errorf("%s: keyFits got %v, want %v", tc.name, got, tc.want)
		}
	}
}
