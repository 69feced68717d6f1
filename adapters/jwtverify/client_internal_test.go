package jwtverify

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The discovery and JWKS client never follows a redirect from https to
// plain http, except to loopback.
func TestRedirects(t *testing.T) {
	c := NewHTTPClient(time.Second)
	from := []*http.Request{{URL: &url.URL{Scheme: "https", Host: "tenant.auth0.com"}}}
	for target, ok := range map[string]bool{
		"https://cdn.example.com/jwks.json": true,
		"http://127.0.0.1:8081/jwks.json":   true,
		"http://localhost/jwks.json":        true,
		"http://keys.example.com/jwks.json": false,
		"http://10.0.0.1/jwks.json":         false,
	} {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckRedirect(&http.Request{URL: u}, from)
		if ok != (err == nil) {
			t.Errorf("redirect to %s: got %v, want allowed=%v", target, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "https required") {
			t.Errorf("redirect to %s: error %q does not say why", target, err)
		}
	}
	many := make([]*http.Request, 5)
	u, err := url.Parse("https://x.example/")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckRedirect(&http.Request{URL: u}, many); err == nil {
		t.Errorf("a sixth redirect was followed")
	}
}
