package jwtverify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/example/spaapi/domain"
)

// A "b64" header other than true (RFC 7797: the payload is not encoded)
// used to be ignored, while go-jose applies it and verifies another
// signing input: found by the differential test. Now refused as
// malformed. Duplicate member names used to be accepted, the last counting
// (as golang-jwt reads them), while go-jose refuses them: now they are
// malformed too, whichever one would have won.
func TestB64AndDuplicateMembers(t *testing.T) {
	kit := newHostileKit(t)
	v := kit.fixedVerifier(t)
	claims := string(mustMarshal(kitClaims(kitIssuer, "x")))
	const header = `{"alg":"RS256","kid":"rsa-1","typ":"at+jwt"}`
	for _, tc := range []struct {
		name, header, claims string
		want                 domain.Reason
	}{
		{"control", header, claims, "ok"},
		{"b64 true", `{"alg":"RS256","kid":"rsa-1","b64":true}`, claims, "ok"},
		{"alg twice, the last allowed", `{"alg":"HS256","alg":"RS256","kid":"rsa-1"}`, claims, domain.ReasonMalformed},
		{"alg twice, the first allowed", `{"alg":"RS256","alg":"HS256","kid":"rsa-1"}`, claims, domain.ReasonMalformed},
		{"iss twice, the last wrong", header, strings.Replace(claims, "}", `,"iss":"https://evil.example/"}`, 1), domain.ReasonMalformed},
		{"exp twice, the last past", header, strings.Replace(claims, "}", `,"exp":1}`, 1), domain.ReasonMalformed},
		{"exp twice, the first past", header, strings.Replace(claims, "{", `{"exp":1,`, 1), domain.ReasonMalformed},
		{"b64 false", `{"alg":"RS256","kid":"rsa-1","b64":false}`, claims, domain.ReasonMalformed},
		{"b64 a string", `{"alg":"RS256","kid":"rsa-1","b64":"false"}`, claims, domain.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := kit.sign(kit.trusted[0], "RS256", []byte(tc.header), []byte(tc.claims))
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tok)
			if got := reasonOf(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}
