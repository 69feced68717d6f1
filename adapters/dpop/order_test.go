package dpop_test

import (
	"context"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Every check that costs no signature comes before the signature: a
// hostile proof refused for its key, its token's binding, its claims or
// its nonce is refused without a signature check, whatever key signed it
// and however. (An RSA-8192 signature costs about as much as 60 ES256
// ones: refused first, it costs what parsing it does.) Each proof below
// either is signed by another key than its own, so that a signature
// checked first would answer dpop_bad_signature, or carries a valid
// signature by a large RSA key; either way a signature check would count.
func TestCheapChecksComeBeforeTheSignature(t *testing.T) {
	clk := &clock{t: testNow}
	v := newVerifier(t, clk, func(c *dpop.Config) { c.NonceSecret = []byte(strings.Repeat("n", 32)) })
	ctx := context.Background()
	k, forger := testKey(t, "ES256"), testKey(t, "ES256-other")
	rsa4096, rsa8192 := testKey(t, "RSA4096"), testKey(t, "RSA8192")
	good := func() map[string]any {
		c := claims(testNow)
		c["nonce"] = v.Nonce()
		return c
	}
	forged := func(edit func(h, c map[string]any)) string { // k's header, signed by another key
		h, c := header(k), good()
		edit(h, c)
		return sign(t, h, c, "ES256", forger.signer)
	}
	unbound := func(p string) ports.ProofRequest { r := request(k, p); r.JKT = ""; return r }
	for _, tc := range []struct {
		name string
		req  ports.ProofRequest
		want domain.ProofReason
	}{
		{"RSA-8192 key, validly signed", request(k, sign(t, header(rsa8192), good(), "RS256", rsa8192.signer)), domain.ProofKeyTooLarge},
		{"RSA-8192 key, token bound to it", ports.ProofRequest{Method: testMethod, URL: testURL, AccessToken: testToken, JKT: "any",
			Proofs: []string{sign(t, header(rsa8192), good(), "RS256", rsa8192.signer)}}, domain.ProofKeyTooLarge},
		{"RSA-4096 key, validly signed, unbound token", unbound(sign(t, header(rsa4096), good(), "RS256", rsa4096.signer)), domain.ProofNotBound},
		{"RSA-4096 key, validly signed, token bound to another key", request(k, sign(t, header(rsa4096), good(), "RS256", rsa4096.signer)), domain.ProofKeyMismatch},
		{"forged, unbound token", unbound(forged(func(h, c map[string]any) {})), domain.ProofNotBound},
		{"forged, token bound to another key", request(forger, forged(func(h, c map[string]any) {})), domain.ProofKeyMismatch},
		{"forged, typ", request(k, forged(func(h, c map[string]any) { h["typ"] = "JWT" })), domain.ProofType},
		{"forged, jwk with a private member", request(k, forged(func(h, c map[string]any) { h["jwk"] = privateJWK(k) })), domain.ProofPrivateKey},
		{"forged, no jti", request(k, forged(func(h, c map[string]any) { delete(c, "jti") })), domain.ProofMissingClaim},
		{"forged, jti too long", request(k, forged(func(h, c map[string]any) { c["jti"] = strings.Repeat("j", 257) })), domain.ProofClaimType},
		{"forged, htm", request(k, forged(func(h, c map[string]any) { c["htm"] = "POST" })), domain.ProofMethod},
		{"forged, htu", request(k, forged(func(h, c map[string]any) { c["htu"] = "https://evil.example/api/private" })), domain.ProofURL},
		{"forged, iat too old", request(k, forged(func(h, c map[string]any) { c["iat"] = testNow.Unix() - 301 })), domain.ProofTooOld},
		{"forged, iat in the future", request(k, forged(func(h, c map[string]any) { c["iat"] = testNow.Unix() + 31 })), domain.ProofFuture},
		{"forged, ath", request(k, forged(func(h, c map[string]any) { c["ath"] = dpop.AccessTokenHash("another token") })), domain.ProofAccessToken},
		{"forged, no nonce", request(k, forged(func(h, c map[string]any) { delete(c, "nonce") })), domain.ProofNonceMissing},
		{"forged, a nonce not ours", request(k, forged(func(h, c map[string]any) { c["nonce"] = b64(make([]byte, 24)) })), domain.ProofNonceInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dpop.SignatureChecks(v)
			wantReason(t, v.VerifyProof(ctx, tc.req), tc.want)
			if n := dpop.SignatureChecks(v) - before; n != 0 {
				t.Fatalf("%d signature checks to refuse it, want 0", n)
			}
		})
	}

	// With everything else right, the signature is checked, once.
	for _, tc := range []struct {
		name string
		req  ports.ProofRequest
		want domain.ProofReason
	}{
		{"forged, all else right", request(k, forged(func(h, c map[string]any) {})), domain.ProofSignature},
		{"good", request(k, sign(t, header(k), good(), "ES256", k.signer)), ""},
		{"good, RSA-4096", request(rsa4096, sign(t, header(rsa4096), good(), "RS256", rsa4096.signer)), ""},
	} {
		before := dpop.SignatureChecks(v)
		wantReason(t, v.VerifyProof(ctx, tc.req), tc.want)
		if n := dpop.SignatureChecks(v) - before; n != 1 {
			t.Fatalf("%s: %d signature checks, want 1", tc.name, n)
		}
	}

	// At a token endpoint: the first step never checks a signature, the
	// second checks it.
	tokenReq := func(p string) ports.ProofRequest {
		return ports.ProofRequest{Method: testMethod, URL: testURL, Proofs: []string{p}}
	}
	before := dpop.SignatureChecks(v)
	if _, err := v.CheckTokenRequestProof(tokenReq(sign(t, header(rsa8192), good(), "RS256", rsa8192.signer))); err == nil {
		t.Fatal("CheckTokenRequestProof of an RSA-8192 proof: accepted")
	}
	p, err := v.CheckTokenRequestProof(tokenReq(forged(func(h, c map[string]any) {})))
	if err != nil || p.JKT() != k.jkt {
		t.Fatalf("CheckTokenRequestProof of a forged proof: got %v; want it passed on, claiming %s", err, k.jkt)
	}
	if n := dpop.SignatureChecks(v) - before; n != 0 {
		t.Fatalf("CheckTokenRequestProof: %d signature checks, want 0", n)
	}
	wantReason(t, p.Accept(ctx), domain.ProofSignature)
	if n := dpop.SignatureChecks(v) - before; n != 1 {
		t.Fatalf("Accept: %d signature checks, want 1", n)
	}
}

// RSA proof keys: 2048 to 4096 bits, exponent at most 65537. Larger keys
// are refused as such, before their modulus is read.
func TestRSAKeySizes(t *testing.T) {
	clk := &clock{t: testNow}
	v := newVerifier(t, clk, nil)
	ctx := context.Background()
	rsa4096, rsa8192 := testKey(t, "RSA4096"), testKey(t, "RSA8192")
	withN := func(k *key, edit func(n []byte) []byte) ports.ProofRequest {
		h := header(k)
		jwk := clone(k.jwk)
		jwk["n"] = b64(edit(mustB64(t, jwk["n"].(string))))
		h["jwk"] = jwk
		return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
	}
	for _, tc := range []struct {
		name string
		req  ports.ProofRequest
		want domain.ProofReason
	}{
		{"4096 bits", request(rsa4096, proof(t, rsa4096, testNow)), ""},
		{"4097 to 4104 bits", withN(rsa4096, func(n []byte) []byte { return append([]byte{1}, n...) }), domain.ProofKeyTooLarge},
		{"8192 bits", request(rsa8192, proof(t, rsa8192, testNow)), domain.ProofKeyTooLarge},
		{"2047 bits", withN(testKey(t, "RS256"), func(n []byte) []byte { n[0] >>= 1; return n }), domain.ProofWeakKey},
		{"exponent 65539", func() ports.ProofRequest {
			h := header(rsa4096)
			jwk := clone(rsa4096.jwk)
			jwk["e"] = b64([]byte{1, 0, 3})
			h["jwk"] = jwk
			return request(rsa4096, sign(t, h, claims(testNow), "RS256", rsa4096.signer))
		}(), domain.ProofKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.VerifyProof(ctx, tc.req)
			wantReason(t, err, tc.want)
			if tc.want == domain.ProofKeyTooLarge && !strings.Contains(err.(*domain.ProofError).Describe(), "over 4096 bits") {
				t.Errorf("description %q does not say the limit", err.(*domain.ProofError).Describe())
			}
		})
	}
	if _, err := dpop.Thumbprint(mustJSON(t, rsa8192.jwk)); err == nil {
		t.Error("Thumbprint of an RSA-8192 key: accepted")
	}
}
