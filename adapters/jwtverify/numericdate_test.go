package jwtverify_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/example/spaapi/domain"
)

// NumericDates too large for int64 seconds: golang-jwt turns them into a
// time in the distant past, which made "nbf": 1e300 and a far-future "iat"
// pass. Found by FuzzVerify's oracle.
func TestNumericDatesOutOfRange(t *testing.T) {
	kit := newHostileKit(t)
	v := kit.fixedVerifier(t)
	for _, tc := range []struct {
		claim, value string
		want         domain.Reason
	}{
		{"nbf", "1e300", domain.ReasonNotYetValid},
		{"nbf", "1e19", domain.ReasonNotYetValid},
		{"nbf", "9223372036854775807", domain.ReasonNotYetValid},
		{"nbf", "253402300800", domain.ReasonNotYetValid}, // year 10000
		{"nbf", "-1e300", "ok"},                           // long ago: fine
		{"iat", "1e300", domain.ReasonIssuedInFuture},
		{"iat", "9.3e18", domain.ReasonIssuedInFuture},
		{"iat", "253402300800", domain.ReasonIssuedInFuture},
		{"exp", "1e300", domain.ReasonExpired}, // comes out in the past: refused, if not for its real reason
		{"exp", "-1e300", domain.ReasonExpired},
	} {
		t.Run(tc.claim+"="+tc.value, func(t *testing.T) {
			c := kitClaims(kitIssuer, "x")
			c[tc.claim] = json.Number(tc.value)
			_, err := v.Verify(context.Background(), kit.token(kit.trusted[0], c))
			if got := reasonOf(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}
