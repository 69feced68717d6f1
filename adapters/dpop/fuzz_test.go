package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/ports"
)

// FuzzVerifyProof feeds the verifier mutated proofs. Properties: it never
// panics, and it never accepts a proof whose signing input the harness did
// not sign with the private key of the jwk in that proof's header. The
// harness keeps the set of signing inputs it signed; the request's cnf.jkt
// is the thumbprint of whatever jwk the proof carries, so that the
// signature, not the binding, is what stands between a mutation and
// acceptance.
//
//	go test -run '^$' -fuzz FuzzVerifyProof -fuzztime 1m ./adapters/dpop/
//
// The fuzzing engine runs this function in several processes, so every
// proof a process could be handed must be the same in all of them: the
// keys come from fixed bytes and the jtis from a local counter. (RSA keys
// cannot be made from fixed bytes cheaply; RSA proofs are left to the
// table tests.)
func FuzzVerifyProof(f *testing.F) {
	signed := map[string]bool{} // signing inputs, each signed by its header's jwk's key
	n := 0
	fresh := func() map[string]any {
		n++
		c := claims(testNow)
		c["jti"] = fmt.Sprintf("fuzz-%d", n)
		return c
	}
	record := func(h, c map[string]any, alg string, s crypto.Signer) string {
		p := sign(f, h, c, alg, s)
		signed[p[:strings.LastIndexByte(p, '.')]] = true
		return p
	}
	for _, name := range []string{"ES256", "ES384", "EdDSA", "Ed25519"} {
		k := fixedKey(f, name, name)
		f.Add(record(header(k), fresh(), k.alg, k.signer))
	}

	// Seeds from the hostile tests: signed ones, and some that are not.
	k, other := fixedKey(f, "ES256", "ES256"), fixedKey(f, "ES256", "other")
	good := record(header(k), fresh(), k.alg, k.signer)
	h, c, s := func() (string, string, string) { p := strings.Split(good, "."); return p[0], p[1], p[2] }()
	edit := func(m map[string]any, name string, v any) map[string]any {
		m = clone(m)
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
		return m
	}
	for _, hdr := range []map[string]any{
		edit(header(k), "typ", "JWT"), edit(header(k), "typ", nil), edit(header(k), "crit", []string{"b64"}),
		edit(header(k), "jwk", privateJWK(k)), edit(header(k), "alg", "ES384"),
	} {
		f.Add(record(hdr, fresh(), k.alg, k.signer))
	}
	for _, claim := range []map[string]any{
		edit(fresh(), "htm", "POST"), edit(fresh(), "htu", "https://API.example.com:443/api/private?q#f"),
		edit(fresh(), "iat", testNow.Unix()-301), edit(fresh(), "iat", float64(testNow.Unix())+30.5),
		edit(fresh(), "ath", nil), edit(fresh(), "jti", strings.Repeat("j", 300)), edit(fresh(), "nonce", 1),
	} {
		f.Add(record(header(k), claim, k.alg, k.signer))
	}
	weak := testKey(f, "RSA1024")
	f.Add(record(header(weak), fresh(), weak.alg, weak.signer))
	f.Add(sign(f, header(k), fresh(), "ES256", other.signer)) // not recorded: signed by another key
	for _, p := range []string{
		h + "." + c + "." + s + ".", h + "." + c + "." + s + "==", h + "." + c + ".", h + ".." + s, "",
		b64([]byte(`{"typ":"dpop+jwt","alg":"none","jwk":{}}`)) + "." + c + ".",
		hmacProof(f, []byte("secret")),
		strings.Replace(good, "e", "f", 1),
	} {
		f.Add(p)
	}

	f.Fuzz(func(t *testing.T, p string) {
		clk := &clock{t: testNow}
		cfg := dpop.DefaultConfig()
		cfg.Now = clk.Now
		cfg.Algorithms = append(cfg.Algorithms, "ES512", "RS384", "RS512", "PS384", "PS512")
		v, err := dpop.New(cfg, memory.NewReplayCache(64, ports.ReplayShares{}, clk.Now))
		if err != nil {
			t.Fatal(err)
		}
		req := ports.ProofRequest{Method: testMethod, URL: testURL, Proofs: []string{p}, AccessToken: testToken, JKT: jktOf(p)}
		if err := v.VerifyProof(context.Background(), req); err != nil {
			return
		}
		if !signed[p[:strings.LastIndexByte(p, '.')]] {
			t.Fatalf("accepted a proof whose signing input was not signed by its jwk's key: %q", p)
		}
	})
}

// fixedKey returns a key for alg made from fixed bytes named seed: the same
// in every process.
func fixedKey(t testing.TB, alg, seed string) *key {
	d := sha512.Sum512([]byte("spaapi fuzz key " + seed))
	k := &key{alg: alg}
	var err error
	switch alg {
	case "ES256":
		k.signer, err = ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:32])
	case "ES384":
		k.signer, err = ecdsa.ParseRawPrivateKey(elliptic.P384(), d[:48])
	case "EdDSA", "Ed25519":
		k.signer = ed25519.NewKeyFromSeed(d[:32])
	default:
		t.Fatalf("no fixed key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	k.jwk = publicJWK(k.signer.Public())
	if k.jkt, err = dpop.Thumbprint(mustJSON(t, k.jwk)); err != nil {
		t.Fatal(err)
	}
	return k
}

// jktOf returns the thumbprint of the jwk in p's header, if it has one that
// Thumbprint accepts, else "x".
func jktOf(p string) string {
	h, _, _ := strings.Cut(p, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "x"
	}
	var hdr map[string]json.RawMessage
	if json.Unmarshal(b, &hdr) != nil {
		return "x"
	}
	jkt, err := dpop.Thumbprint(hdr["jwk"])
	if err != nil {
		return "x"
	}
	return jkt
}
