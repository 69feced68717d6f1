package jwtverify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

// JWK member names are case-sensitive. encoding/json is not: without a
// check, {"ktY":"OKP","Crv":"Ed25519","X":…} (no kty at all, read
// exactly) was admitted as an Ed25519 key, and {"use":"enc","USE":"sig"}
// as a signing key. Found by FuzzJWKS.
func TestJWKSMemberNamesExact(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	rsaKey := jwtverifytest.NewRSAKey(t, "", 1)
	ed := jwtverifytest.NewEdKey(t, "")
	edit := func(k *jwtverifytest.Key, kid string, kv ...string) json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(k.JWK(t), &m); err != nil {
			t.Fatal(err)
		}
		m["kid"] = json.RawMessage(`"` + kid + `"`)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = json.RawMessage(kv[i+1])
			}
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var edJWK map[string]string
	if err := json.Unmarshal(ed.JWK(t), &edJWK); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		kid string
		key *jwtverifytest.Key
		jwk json.RawMessage
	}{
		// The crasher: no exact member but kid, the Ed25519 key under ktY, Crv, X.
		{"no-kty", ed, edit(ed, "no-kty", "kty", "", "crv", "", "x", "", "use", "", "alg", "",
			"ktY", `"OKP"`, "Crv", `"Ed25519"`, "X", `"`+edJWK["x"]+`"`)},
		// Read exactly, an "oct" key and an encryption key; the last
		// member, in other case, used to win.
		{"kty-oct-then-KTY", rsaKey, replace(t, edit(rsaKey, "kty-oct-then-KTY"), `"kty":"RSA"`, `"kty":"oct","KTY":"RSA"`)},
		{"use-enc-then-USE", rsaKey, replace(t, edit(rsaKey, "use-enc-then-USE"), `"use":"sig"`, `"use":"enc","USE":"sig"`)},
	}
	var jwks []json.RawMessage
	for _, c := range cases {
		jwks = append(jwks, c.jwk)
	}
	iss.PublishRaw(append([]json.RawMessage{iss.Key.JWK(t)}, jwks...)...)
	cfg := newConfig(iss)
	cfg.Algorithms = []string{"RS256", "EdDSA"}
	v, log := startLogged(t, cfg)
	waitLog(t, log, "signing keys loaded")
	if _, err := v.Verify(context.Background(), iss.Token(iss.Claims("x"))); err != nil {
		t.Fatalf("the good key: %v", err)
	}
	for _, c := range cases {
		t.Run(c.kid, func(t *testing.T) {
			k := *c.key
			k.KID = c.kid
			_, err := v.Verify(context.Background(), jwtverifytest.Sign(t, &k, jwtverifytest.Header(&k), iss.Claims("x")))
			if got := reasonOf(t, err); got != domain.ReasonUnknownKey {
				t.Errorf("got %q (%v), want %q", got, err, domain.ReasonUnknownKey)
			}
			if want := `kid \"` + c.kid + `\": member`; !strings.Contains(log.String(), want) {
				t.Errorf("the log does not say why (%s):\n%s", want, log.String())
			}
		})
	}
}

// replace replaces old, which must be there, by new in the JSON text b.
func replace(t *testing.T, b json.RawMessage, old, new string) json.RawMessage {
	t.Helper()
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %s", b, old)
	}
	return json.RawMessage(strings.Replace(string(b), old, new, 1))
}
