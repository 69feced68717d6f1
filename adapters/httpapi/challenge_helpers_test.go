package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// challengesOf returns h's WWW-Authenticate values without the
// resource_metadata parameter that ends each (RFC 9728 §5.1), after
// checking that every value ends with one naming the well-known location.
// The exact URL is checked by TestChallengesNameResourceMetadata; tests
// about the rest of the challenge read it through here.
func challengesOf(t *testing.T, h http.Header) []string {
	t.Helper()
	var out []string
	for _, v := range h.Values("WWW-Authenticate") {
		rest, param, ok := strings.Cut(v, `, resource_metadata="`)
		if !ok || !strings.HasSuffix(param, `/.well-known/oauth-protected-resource"`) || strings.Contains(param, ",") {
			t.Errorf("WWW-Authenticate %q: does not end with resource_metadata naming /.well-known/oauth-protected-resource", v)
			out = append(out, v)
			continue
		}
		out = append(out, rest)
	}
	return out
}

// challengeOf is the first of challengesOf, "" for none.
func challengeOf(t *testing.T, h http.Header) string {
	t.Helper()
	if cs := challengesOf(t, h); len(cs) > 0 {
		return cs[0]
	}
	return ""
}
