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
// malformed. Duplicate member names are accepted, the last counting (RFC
// 7515 §5.2, RFC 7519 §4), as documented; the rows below pin that down.
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
		{"alg twice, the last counts", `{"alg":"HS256","alg":"RS256","kid":"rsa-1"}`, claims, "ok"},
		{"alg twice, the last is not allowed", `{"alg":"RS256","alg":"HS256","kid":"rsa-1"}`, claims, domain.ReasonAlgorithm},
		{"iss twice, the last is wrong", header, strings.Replace(claims, "}", `,"iss":"https://evil.example/"}`, 1), domain.ReasonIssuer},
		{"exp twice, the last is past", header, strings.Replace(claims, "}", `,"exp":1}`, 1), domain.ReasonExpired},
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
