package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/redis/redistest"
)

// forgedToken is a token naming the issuer's real kid, signed by another
// key: each costs the API a signature check to refuse.
func forgedToken(t *testing.T, iss *jwtverifytest.Issuer) string {
	return jwtverifytest.Sign(t, jwtverifytest.NewRSAKey(t, iss.Key.KID, 1), jwtverifytest.Header(iss.Key), iss.Claims("auth0|mallory"))
}

// getFrom sends GET url with a bearer token and X-Forwarded-For values.
func getFrom(t *testing.T, url, token string, xff ...string) (status int, retryAfter, body string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// Two instances on one Redis share each client's failures: three forged
// tokens at each make six, the limit, and both then refuse the client's
// valid token with 429, though neither saw six.
func TestTwoInstancesShareTheFailureLimit(t *testing.T) {
	srv := redistest.Start(t) // its own: the count of 127.0.0.1 is the test's alone
	iss := jwtverifytest.NewIssuer(t)
	common := []string{"ISSUER_BASE_URL=" + iss.URL, "AUDIENCE=" + jwtverifytest.Audience, "ADDR=127.0.0.1:0",
		"REDIS_URL=" + srv.URL(), "AUTH_FAILURE_LIMIT=6/1m"}
	_, logsA := startBinary(t, common...)
	_, logsB := startBinary(t, common...)
	a, b := logsA.baseURL(t), logsB.baseURL(t)
	waitStatus(t, a+"/readyz", 200)
	waitStatus(t, b+"/readyz", 200)
	if line := logsA.waitFor(t, `"msg":"listening"`); line["auth_failure_limit"] != "6/1m per client address, counted in Redis" {
		t.Errorf("start-up line: auth_failure_limit %v", line["auth_failure_limit"])
	}
	forged, valid := forgedToken(t, iss), iss.Token(iss.Claims("auth0|alice"))

	for _, base := range []string{a, b, a, b, a} {
		if status, _, body := getFrom(t, base+"/api/private", forged); status != 401 || !strings.Contains(body, "signature verification failed") {
			t.Fatalf("forged token below the limit: got %d %s", status, body)
		}
	}
	if status, _, _ := getFrom(t, b+"/api/private", valid); status != 200 {
		t.Fatalf("valid token after five failures: got %d, want 200", status)
	}
	// The sixth failure, at b: b has seen three, Redis six.
	if status, _, _ := getFrom(t, b+"/api/private", forged); status != 401 {
		t.Fatalf("sixth forged token: got %d, want 401 (checked, then counted)", status)
	}
	status, retry, body := getFrom(t, b+"/api/private", valid)
	if status != 429 || retry != "10" || !strings.Contains(body, `"error":"too_many_failures"`) {
		t.Fatalf("valid token at b after six failures in all: got %d Retry-After %q %s; want 429, 10, too_many_failures", status, retry, body)
	}
	// a has seen three: it learns of the block at its next failure there.
	if status, _, _ := getFrom(t, a+"/api/private", forged); status != 401 {
		t.Fatalf("forged token at a: got %d, want 401", status)
	}
	if status, retry, _ := getFrom(t, a+"/api/private", valid); status != 429 || retry != "10" {
		t.Fatalf("valid token at a after that: got %d Retry-After %q, want 429, 10", status, retry)
	}
}

// The binary takes the client from a trusted proxy's X-Forwarded-For
// (TRUSTED_PROXIES), and only that client is refused.
func TestFailureLimitBehindATrustedProxy(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	_, logs := startBinary(t, "ISSUER_BASE_URL="+iss.URL, "AUDIENCE="+jwtverifytest.Audience, "ADDR=127.0.0.1:0",
		"AUTH_FAILURE_LIMIT=3/1m", "TRUSTED_PROXIES=127.0.0.1", "PUBLIC_URL=https://api.example.com")
	base := logs.baseURL(t)
	waitStatus(t, base+"/readyz", 200)
	forged, valid := forgedToken(t, iss), iss.Token(iss.Claims("auth0|alice"))
	for range 3 {
		if status, _, _ := getFrom(t, base+"/api/private", forged, "198.51.100.1"); status != 401 {
			t.Fatalf("forged token through the proxy: got %d, want 401", status)
		}
	}
	if status, retry, _ := getFrom(t, base+"/api/private", valid, "198.51.100.1"); status != 429 || retry != "20" {
		t.Fatalf("that client's valid token: got %d Retry-After %q, want 429, 20", status, retry)
	}
	for _, xff := range [][]string{{"198.51.100.2"}, nil, {"198.51.100.1, 198.51.100.3"}} {
		if status, _, _ := getFrom(t, base+"/api/private", valid, xff...); status != 200 {
			t.Errorf("another client (X-Forwarded-For %q): got %d, want 200", xff, status)
		}
	}
}
