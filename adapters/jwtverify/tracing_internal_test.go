package jwtverify

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// The kid a span names is at most maxTracedKIDLen bytes of the token's,
// cut between characters: a string that is not UTF-8 would make the
// exporter refuse the batch it is in.
func TestPeekKIDCutsBetweenCharacters(t *testing.T) {
	token := func(kid string) string {
		h, err := json.Marshal(map[string]string{"alg": "RS256", "kid": kid})
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(h) + ".e30.sig"
	}
	for _, tc := range []struct{ name, kid, want string }{
		{"short", "key-1", "key-1"},
		{"long ASCII", strings.Repeat("a", 200), strings.Repeat("a", maxTracedKIDLen)},
		{"é across the cut", strings.Repeat("a", maxTracedKIDLen-1) + "é", strings.Repeat("a", maxTracedKIDLen-1)},
		{"€ across the cut", strings.Repeat("a", maxTracedKIDLen-2) + "€x", strings.Repeat("a", maxTracedKIDLen-2)},
		{"é just before the cut", strings.Repeat("a", maxTracedKIDLen-2) + "éb", strings.Repeat("a", maxTracedKIDLen-2) + "é"},
	} {
		got, ok := peekKID(token(tc.kid))
		if !ok || got != tc.want || !utf8.ValidString(got) {
			t.Errorf("%s: got %q, %v (valid UTF-8: %v); want %q", tc.name, got, ok, utf8.ValidString(got), tc.want)
		}
	}
}
