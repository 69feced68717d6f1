package jwtverify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"
)

// fuzzAlgSets are the TOKEN_SIGNING_ALG lists FuzzJWKS admits keys for,
// picked by a byte of the input.
var fuzzAlgSets = [][]string{
	{"RS256"}, {"RS256", "PS256", "ES256", "EdDSA"}, {"ES384", "ES512"}, {"Ed25519"}, {"PS512", "ES256"},
}

// FuzzJWKS feeds JWKS documents to key admission: each entry to parseKey,
// as a fetched JWKS is read, and the whole document to LoadKeyFile, as a
// key file is. Properties: neither panics, and every admitted key keeps
// the rules, as an oracle that reads the entry with exact member names
// sees them: kty RSA, EC or OKP; use absent or "sig"; key_ops absent or
// with verify and no encryption operation; alg absent or allowed; no
// private members (d, p, q, dp, dq, qi, oth, k); the key admitted is the
// one the entry's own n/e or crv/x/y name, of the type kty says, with an
// RSA modulus of at least 2048 bits and EC curves as crv names them; and
// it verifies one of the allowed algorithms.
//
//	go test -run '^$' -fuzz '^FuzzJWKS$' -fuzztime 5m ./adapters/jwtverify/
func FuzzJWKS(f *testing.F) {
	// Seeds are values: random keys are fine here (the fuzzing processes
	// need not agree on them).
	var entries []string
	for _, k := range []struct {
		alg string
		key crypto.Signer
	}{
		{"RS256", mustRSA(f, 2048)}, {"PS256", mustRSA(f, 2048)}, {"ES256", mustEC(f, elliptic.P256())},
		{"ES384", mustEC(f, elliptic.P384())}, {"ES512", mustEC(f, elliptic.P521())},
		{"EdDSA", mustEd(f)}, {"Ed25519", mustEd(f)}, {"RS256", mustRSA(f, 1024)},
	} {
		entries = append(entries, jwkJSON(f, k.key.Public(), k.alg))
	}
	rsaJWK, ecJWK, edJWK := entries[0], entries[2], entries[5]
	edit := func(jwk string, kv ...string) string { // kv: name, JSON value ("" deletes)
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(jwk), &m); err != nil {
			f.Fatal(err)
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = json.RawMessage(kv[i+1])
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	// The hostile entries of TestJWKSHygiene and TestSkippedKeysSayWhy,
	// and more.
	entries = append(entries,
		edit(rsaJWK, "use", `"enc"`), edit(rsaJWK, "key_ops", `["encrypt","verify"]`), edit(rsaJWK, "key_ops", `["sign"]`),
		edit(rsaJWK, "alg", `"ES256"`), edit(rsaJWK, "alg", `"Ed25519"`), edit(rsaJWK, "alg", `"HS256"`), edit(rsaJWK, "alg", ""),
		edit(rsaJWK, "d", `"AQAB"`), edit(rsaJWK, "D", `"AQAB"`), edit(ecJWK, "d", `"AQAB"`), edit(edJWK, "d", `"AQAB"`),
		edit(rsaJWK, "kty", `"rsa"`), edit(rsaJWK, "KTY", `"oct"`), edit(rsaJWK, "USE", `"enc"`), edit(rsaJWK, "Use", `"sig"`, "use", `"enc"`),
		edit(rsaJWK, "n", `"!!!"`), edit(rsaJWK, "n", `"AQAB"`), edit(rsaJWK, "e", `"AA"`), edit(rsaJWK, "x5c", `["MIIB"]`), edit(rsaJWK, "x5u", `"http://127.0.0.1:1/"`),
		edit(ecJWK, "crv", `"P-384"`), edit(ecJWK, "crv", `"p-256"`), edit(ecJWK, "crv", `"secp256k1"`), edit(ecJWK, "y", ""), edit(ecJWK, "x", `"AA"`),
		edit(edJWK, "crv", `"X25519"`), edit(edJWK, "crv", `"Ed448"`), edit(edJWK, "x", `"AAAA"`), edit(edJWK, "alg", `"ES256"`),
		`{"kty":"oct","kid":"hs","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA","alg":"HS256"}`,
		`{"kty":"RSA","kid":"broken","n":"!!!","e":"AQAB"}`, `"not an object"`, `null`, `{}`, `[]`, `{"kty":"RSA","oth":[{}]}`,
	)
	for i, e := range entries {
		f.Add([]byte(`{"keys":[`+e+`]}`), byte(i))
	}
	f.Add([]byte(`{"keys":[`+strings.Join(entries[:7], ",")+`]}`), byte(1))
	f.Add([]byte(rsaJWK), byte(0)) // a key file of one JWK
	for _, k := range []crypto.Signer{mustRSA(f, 1024), mustRSA(f, 2048), mustEC(f, elliptic.P256()), mustEd(f)} {
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), byte(1))
	}
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), byte(0))

	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, doc []byte, algSet byte) {
		algs := pick(fuzzAlgSets, algSet)
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(doc, &set) == nil {
			for _, raw := range set.Keys {
				k, err := parseKey(raw, algs)
				if err != nil {
					continue
				}
				if err := admissionBroken(raw, algs, k); err != nil {
					t.Fatalf("admitted %s for %v: %v", raw, algs, err)
				}
			}
		}
		path := filepath.Join(dir, "keys")
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		keys, err := LoadKeyFile(path, algs)
		if err == nil && len(keys) == 0 {
			t.Fatalf("LoadKeyFile: no keys and no error")
		}
		for _, k := range keys {
			if err := fitsRules(k, algs); err != nil {
				t.Fatalf("LoadKeyFile admitted %+v for %v: %v", k.Marshal(), algs, err)
			}
		}
	})
}

func pick[T any](list []T, b byte) T { return list[int(b)%len(list)] }

// admissionBroken is the oracle: what rule admitting k from raw breaks, as
// raw reads with exact member names (RFC 7517 §4: they are
// case-sensitive), or nil.
func admissionBroken(raw json.RawMessage, algs []string, k jwkset.JWK) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	str := func(name string) (string, bool) {
		var s string
		v, ok := m[name]
		if ok && json.Unmarshal(v, &s) != nil {
			return "\x00not a string", true
		}
		return s, ok
	}
	kty, _ := str("kty")
	if kty != "RSA" && kty != "EC" && kty != "OKP" {
		return fmt.Errorf("kty %s", m["kty"])
	}
	// An empty use or alg counts as absent, as parseKey reads it (and
	// go-jose does): no rule hangs on it, the key's type still has to fit.
	if use, ok := str("use"); ok && use != "sig" && use != "" {
		return fmt.Errorf("use %s", m["use"])
	}
	if raw, ok := m["key_ops"]; ok {
		var ops []string
		if json.Unmarshal(raw, &ops) != nil || !slices.Contains(ops, "verify") {
			return fmt.Errorf("key_ops %s", raw)
		}
		for _, op := range ops {
			if slices.Contains([]string{"encrypt", "decrypt", "wrapKey", "unwrapKey", "deriveKey", "deriveBits"}, op) {
				return fmt.Errorf("key_ops %s", raw)
			}
		}
	}
	jwkAlg, hasAlg := str("alg")
	hasAlg = hasAlg && jwkAlg != ""
	eddsa := func(a string) bool { return a == "EdDSA" || a == "Ed25519" }
	if hasAlg && !slices.Contains(algs, jwkAlg) && !(eddsa(jwkAlg) && slices.ContainsFunc(algs, eddsa)) {
		return fmt.Errorf("alg %s not among %v", m["alg"], algs)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := m[private]; ok {
			return fmt.Errorf("private member %q", private)
		}
	}
	// The key admitted is the one the entry names.
	num := func(name string) *big.Int {
		s, _ := str(name)
		return new(big.Int).SetBytes(b64any(s))
	}
	crv, _ := str("crv")
	switch key := k.Key().(type) {
	case *rsa.PublicKey:
		if kty != "RSA" || key.N.Cmp(num("n")) != 0 || big.NewInt(int64(key.E)).Cmp(num("e")) != 0 {
			return fmt.Errorf("an RSA key other than kty %q, n, e name", kty)
		}
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[crv]
		if kty != "EC" || want == nil || key.Curve != want || key.X.Cmp(num("x")) != 0 || key.Y.Cmp(num("y")) != 0 {
			return fmt.Errorf("an EC key on %s other than kty %q, crv %q, x, y name", key.Curve.Params().Name, kty, crv)
		}
	case ed25519.PublicKey:
		x, _ := str("x")
		if kty != "OKP" || crv != "Ed25519" || !bytes.Equal(key, b64any(x)) {
			return fmt.Errorf("an Ed25519 key other than kty %q, crv %q, x name", kty, crv)
		}
	}
	if err := fitsRules(k, algs); err != nil {
		return err
	}
	if hasAlg && !slices.ContainsFunc(algs, func(a string) bool { return (a == jwkAlg || eddsa(a) && eddsa(jwkAlg)) && keyFits(a, k.Key()) }) {
		return fmt.Errorf("the key cannot verify its own alg %q", jwkAlg)
	}
	return nil
}

// fitsRules checks what an admitted key is, whatever it came from: a
// public key (no private part kept), RSA of at least 2048 bits, EC on
// P-256/384/521 or Ed25519, that verifies one of algs.
func fitsRules(k jwkset.JWK, algs []string) error {
	mk := k.Marshal()
	if mk.D != "" || mk.P != "" || mk.Q != "" || mk.DP != "" || mk.DQ != "" || mk.QI != "" || len(mk.OTH) > 0 || mk.K != "" {
		return errors.New("private members kept")
	}
	fits := map[string]bool{}
	switch key := k.Key().(type) {
	case *rsa.PublicKey:
		if key.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits", key.N.BitLen())
		}
		for _, a := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"} {
			fits[a] = true
		}
	case *ecdsa.PublicKey:
		fits[map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}[key.Curve]] = true
	case ed25519.PublicKey:
		if len(key) != ed25519.PublicKeySize {
			return fmt.Errorf("Ed25519 key of %d bytes", len(key))
		}
		fits["EdDSA"], fits["Ed25519"] = true, true
	default:
		return fmt.Errorf("a %T key", key)
	}
	if !slices.ContainsFunc(algs, func(a string) bool { return fits[a] }) {
		return fmt.Errorf("verifies none of %v", algs)
	}
	return nil
}

// b64any decodes base64 in any of its four forms, nil if none fits.
func b64any(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}

func mustRSA(t testing.TB, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustEC(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustEd(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwkJSON is pub's public JWK with kid "k", use sig and alg.
func jwkJSON(t testing.TB, pub crypto.PublicKey, alg string) string {
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k", USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	m := j.Marshal()
	m.ALG = jwkset.ALG(alg) // jwkset knows no "Ed25519" alg; set it after
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
