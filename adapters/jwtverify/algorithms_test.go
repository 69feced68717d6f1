package jwtverify_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

// everyAlgorithm is every signature algorithm golang-jwt (with this
// package's Ed25519) can check.
var everyAlgorithm = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA", "Ed25519",
	"HS256", "HS384", "HS512",
}

// algKeys holds, for every algorithm, a key that can sign with it: one
// RSA key, one EC key per curve and one Ed25519 key, none with a JWK alg,
// and a shared secret long enough for HS512.
type algKeys struct {
	rsa, p256, p384, p521, ed *jwtverifytest.Key
	jwks                      []byte
	secret                    []byte
}

func newAlgKeys(t *testing.T) *algKeys {
	k := &algKeys{
		rsa:    jwtverifytest.NewRSAKey(t, "rsa", 0),
		p256:   jwtverifytest.NewECKey(t, "p256", "ES256"),
		p384:   jwtverifytest.NewECKey(t, "p384", "ES384"),
		p521:   jwtverifytest.NewECKey(t, "p521", "ES512"),
		ed:     jwtverifytest.NewEdKey(t, "ed"),
		secret: []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
	}
	var raws []json.RawMessage
	for _, key := range []*jwtverifytest.Key{k.rsa, k.p256, k.p384, k.p521, k.ed} {
		key.JWKAlg = ""
		raws = append(raws, key.JWK(t))
	}
	var err error
	if k.jwks, err = json.Marshal(map[string]any{"keys": raws}); err != nil {
		t.Fatal(err)
	}
	return k
}

// forAlg returns the key that signs with alg.
func (k *algKeys) forAlg(alg string) *jwtverifytest.Key {
	switch alg {
	case "ES256":
		return k.p256
	case "ES384":
		return k.p384
	case "ES512":
		return k.p521
	case "EdDSA", "Ed25519":
		return k.ed
	}
	return k.rsa
}

const algIssuer = "https://keys.example/"

// token returns a token of alg, signed with the fitting key (or secret),
// valid in every other respect.
func (k *algKeys) token(t *testing.T, alg string) string {
	t.Helper()
	c := jwtverifytest.Lifetime(map[string]any{"iss": algIssuer, "aud": jwtverifytest.Audience, "sub": "auth0|mallory"}, time.Hour)
	if alg == "none" { // with a signature: an empty one is malformed before any alg check
		return jwtverifytest.B64(`{"alg":"none","typ":"at+jwt","kid":"rsa"}`) + "." + jwtverifytest.B64(jwtverifytest.MustJSON(t, c)) + ".c2ln"
	}
	if jwtverify.MinSecretSize(alg) > 0 {
		return hmacTokenAlg(t, k.secret, alg, c)
	}
	key := k.forAlg(alg)
	h := jwtverifytest.Header(key)
	h["alg"] = alg
	return jwtverifytest.Sign(t, key, h, c)
}

// hmacTokenAlg signs c with secret under HS256, HS384 or HS512.
func hmacTokenAlg(t *testing.T, secret []byte, alg string, c map[string]any) string {
	t.Helper()
	input := jwtverifytest.B64(`{"alg":"`+alg+`","typ":"at+jwt"}`) + "." + jwtverifytest.B64(jwtverifytest.MustJSON(t, c))
	sig, err := jwt.GetSigningMethod(alg).Sign(input, secret)
	if err != nil {
		t.Fatalf("signing with %s: %v", alg, err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// verifier returns a verifier allowing algs, with every key (or, for HS
// algorithms, the secret) of k as the issuer's fixed keys.
func (k *algKeys) verifier(t *testing.T, algs []string) *jwtverify.Verifier {
	t.Helper()
	iss := jwtverify.Issuer{Name: algIssuer, Audiences: []string{jwtverifytest.Audience}, Claims: claims}
	if jwtverify.MinSecretSize(algs[0]) > 0 {
		iss.Secret = k.secret
	} else {
		keys, err := jwtverify.LoadKeyFile(jwtverifytest.WriteFile(t, "jwks.json", k.jwks), everyAlgorithm[:11])
		if err != nil || len(keys) != 5 {
			t.Fatalf("LoadKeyFile: got %d keys, %v; want 5", len(keys), err)
		}
		iss.Keys = keys
	}
	v, cleanup, err := jwtverify.New(context.Background(), jwtverify.Options{Algorithms: algs}, []jwtverify.Issuer{iss}, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New(%v): %v", algs, err)
	}
	t.Cleanup(cleanup)
	return v
}

// Every algorithm outside the allowed list is refused as
// domain.ReasonAlgorithm, even when the issuer holds a key (or secret)
// that would verify its signature: the allow-list alone refuses it. The
// control proves the key fits: the same token is accepted once its
// algorithm is the one allowed.
func TestEveryRefusedAlgorithm(t *testing.T) {
	k := newAlgKeys(t)
	ctx := context.Background()
	allowedLists := [][]string{
		{"RS256"}, {"PS256"}, {"ES256"}, {"ES384", "ES512"}, {"EdDSA"}, {"Ed25519"},
		{"RS256", "PS256", "ES256", "EdDSA"},
		{"HS256"}, {"HS384"}, {"HS512"},
	}
	for _, alg := range append(slices.Clone(everyAlgorithm), "none") {
		t.Run(alg, func(t *testing.T) {
			tok := k.token(t, alg)
			if alg != "none" { // the control
				if _, err := k.verifier(t, []string{alg}).Verify(ctx, tok); err != nil {
					t.Fatalf("%s token with %s allowed: got %v, want accepted", alg, alg, err)
				}
			}
			for _, algs := range allowedLists {
				if slices.Contains(algs, alg) {
					continue
				}
				_, err := k.verifier(t, algs).Verify(ctx, tok)
				if got := reasonOf(t, err); got != domain.ReasonAlgorithm {
					t.Errorf("%s token, allowed %v: got %q (%v), want %q", alg, algs, got, err, domain.ReasonAlgorithm)
				}
			}
		})
	}
}
