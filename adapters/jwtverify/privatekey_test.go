package jwtverify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

// A JWKS entry carrying private key members is a key anyone can sign
// with: it is refused, not admitted with its private part dropped. Found
// by FuzzJWKS.
func TestJWKSPrivateKeysRefused(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	leaked := jwtverifytest.NewRSAKey(t, "leaked", 1)
	leakedEC := jwtverifytest.NewECKey(t, "leaked-ec", "ES256")
	leakedEd := jwtverifytest.NewEdKey(t, "leaked-ed")
	private := func(k *jwtverifytest.Key) json.RawMessage {
		j, err := jwkset.NewJWKFromKey(k.Private, jwkset.JWKOptions{Marshal: jwkset.JWKMarshalOptions{Private: true}, Metadata: jwkset.JWKMetadataOptions{KID: k.KID, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(j.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"d":`) {
			t.Fatalf("the JWK has no d: %s", b)
		}
		return b
	}
	iss.PublishRaw(iss.Key.JWK(t), private(leaked), private(leakedEC), private(leakedEd))
	cfg := newConfig(iss)
	cfg.Algorithms = []string{"RS256", "ES256", "EdDSA"}
	v, log := startLogged(t, cfg)
	waitLog(t, log, "signing keys loaded")
	for _, tc := range []struct {
		name string
		key  *jwtverifytest.Key
		want domain.Reason
	}{
		{"the public key", iss.Key, "ok"},
		{"a published RSA private key", leaked, domain.ReasonUnknownKey},
		{"a published EC private key", leakedEC, domain.ReasonUnknownKey},
		{"a published Ed25519 private key", leakedEd, domain.ReasonUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), jwtverifytest.Sign(t, tc.key, jwtverifytest.Header(tc.key), iss.Claims("x")))
			if got := reasonOf(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
	if want := `kid \"leaked\": holds private key members`; !strings.Contains(log.String(), want) {
		t.Errorf("the log does not say why the key is skipped (%s):\n%s", want, log.String())
	}

	path := jwtverifytest.WriteFile(t, "key.json", private(leaked))
	if _, err := jwtverify.LoadKeyFile(path, []string{"RS256"}); err == nil || !strings.Contains(err.Error(), "private key members") {
		t.Errorf("LoadKeyFile of a private JWK: got %v, want a refusal naming the private members", err)
	}
}
