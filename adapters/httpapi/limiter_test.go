package httpapi_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/limitertest"
)

// tokForged is a token the fake refuses as a bad signature: a forged token
// with the issuer's real kid.
const tokForged = "forged.with-the-real.kid"

// limitFixture is the router with a failure limit of limitFailures in a
// row, then one per second, in memory on a test clock.
type limitFixture struct {
	*fixture
	clock *limitertest.Clock
}

const limitFailures = 5

func newLimitFixture(t *testing.T, trustedProxies ...string) *limitFixture {
	t.Helper()
	v := fake.New()
	v.Accept(tokReader, domain.Principal{Subject: "auth0|alice", Scopes: []string{"read:messages"}, ExpiresAt: time.Now().Add(time.Hour)})
	v.Refuse(tokForged, domain.InvalidToken(domain.ReasonSignature, errors.New("crypto/rsa: verification error")))
	proxies, err := httpapi.ParseTrustedProxies(trustedProxies)
	if err != nil {
		t.Fatal(err)
	}
	clk := limitertest.NewClock()
	limit := domain.FailureLimit{Failures: limitFailures, Window: limitFailures * time.Second}
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	metrics, err := httpapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	store := fake.NewMessages()
	proofs, replay := newProofs(t, nil)
	h := httpapi.NewRouter(httpapi.Config{AllowedOrigins: []string{spa}, TrustedProxies: proxies}, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, memory.NewFailureLimiter(limit, 1024, clk.Now)),
		Health:   app.NewHealth(v, ports.Stores{Database: store, Messages: store}, replay),
		Messages: app.NewMessages(store, fixtureQuota),
	}, slog.New(slog.NewJSONHandler(logs, nil)), metrics)
	return &limitFixture{fixture: &fixture{handler: h, fake: v, store: store, logs: logs, reg: reg}, clock: clk}
}

// from sends GET target from the peer remote ("ip:port"), with
// authorization (none if "") and the X-Forwarded-For values xff.
func (f *limitFixture) from(remote, target, authorization string, xff ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", target, nil)
	req.RemoteAddr = remote
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

// wantRefused checks a 401 invalid_token.
func wantRefused(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	if rec.Code != 401 || !strings.Contains(challengeOf(t, rec.Header()), `error="invalid_token"`) {
		t.Fatalf("%s: got %d %q, want 401 invalid_token", what, rec.Code, challengeOf(t, rec.Header()))
	}
}

// wantLimited checks the limiter's answer: 429, Retry-After in seconds,
// the error code, no challenge, not cached.
func wantLimited(t *testing.T, rec *httptest.ResponseRecorder, retryAfter, what string) {
	t.Helper()
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("%s: got %d (%s), want 429", what, rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("%s: Retry-After got %q, want %q", what, got, retryAfter)
	}
	if got := challengesOf(t, rec.Header()); len(got) != 0 {
		t.Errorf("%s: WWW-Authenticate got %q, want none (the credentials were not checked)", what, got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control got %q, want no-store", what, got)
	}
	if body := decodeError(t, rec); body.Error != "too_many_failures" {
		t.Errorf("%s: error code got %q, want too_many_failures", what, body.Error)
	}
}

func wantOK(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	if rec.Code != 200 {
		t.Fatalf("%s: got %d (%s), want 200", what, rec.Code, rec.Body)
	}
}

// A client sending forged tokens gets 401 invalid_token limitFailures
// times, then 429 with Retry-After for everything it sends with
// credentials, its valid token too, until the block has passed; another
// address, failing below the limit, is not affected.
func TestFailureLimitThroughTheRouter(t *testing.T) {
	f := newLimitFixture(t)
	const attacker, other = "203.0.113.7:40000", "198.51.100.9:40000"
	forged, valid := "Bearer "+tokForged, "Bearer "+tokReader

	for range limitFailures - 1 {
		wantRefused(t, f.from(other, "/api/private", forged), "the other client's forged token")
	}
	for range limitFailures {
		wantRefused(t, f.from(attacker, "/api/private", forged), "forged token below the limit")
	}
	wantLimited(t, f.from(attacker, "/api/private", forged), "1", "forged token over the limit")
	wantLimited(t, f.from(attacker, "/api/private-scoped", valid), "1", "the attacker's valid token")
	wantLimited(t, f.from("203.0.113.7:40001", "/api/me", "Bearer "+tokSpaced), "1", "malformed credentials, another port")
	f.clock.Add(400 * time.Millisecond)
	wantLimited(t, f.from(attacker, "/api/private", valid), "1", "the valid token 400 ms later")
	if rec := f.from(attacker, "/api/private", ""); rec.Code != 401 || rec.Header().Get("Retry-After") != "" {
		t.Fatalf("blocked client without credentials: got %d Retry-After %q, want 401 without", rec.Code, rec.Header().Get("Retry-After"))
	}
	wantOK(t, f.from(attacker, "/api/public", ""), "a public endpoint from the blocked address")

	// The other address: its failures below the limit, and its success.
	wantOK(t, f.from(other, "/api/private", valid), "the other client's valid token")
	wantOK(t, f.from("[2001:db8::7]:443", "/api/private", valid), "an IPv6 client's valid token")

	f.clock.Add(600 * time.Millisecond)
	wantOK(t, f.from(attacker, "/api/private", valid), "the attacker's valid token once the block has passed")
	// One failure came back: one more forged token is checked, then blocked again.
	wantRefused(t, f.from(attacker, "/api/private", forged), "forged token once the block has passed")
	wantLimited(t, f.from(attacker, "/api/private", valid), "1", "valid token after that")

	if n := outcome(t, f.reg, "too_many_failures"); n != 5 {
		t.Errorf("auth_outcomes_total{outcome=too_many_failures}: got %v, want 5", n)
	}
	if !strings.Contains(f.logs.String(), `"status":429`) || !strings.Contains(f.logs.String(), `"reason":"too_many_failures"`) {
		t.Errorf("no request line with status 429 and reason too_many_failures:\n%s", f.logs.String())
	}
}

// Malformed credentials (two Authorization headers, a DPoP proof with
// the Bearer scheme) count like refused tokens; missing ones do not.
func TestFailureLimitCountsMalformedCredentials(t *testing.T) {
	f := newLimitFixture(t)
	const client = "192.0.2.10:5000"
	for range 20 {
		if rec := f.from(client, "/api/private", ""); rec.Code != 401 {
			t.Fatalf("no credentials: got %d, want 401", rec.Code)
		}
	}
	send := func(h http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/api/private", nil)
		req.RemoteAddr = client
		req.Header = h
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		return rec
	}
	twice := http.Header{"Authorization": {"Bearer " + tokReader, "Bearer " + tokReader}}
	proofWithBearer := http.Header{"Authorization": {"Bearer " + tokReader}, "Dpop": {"x.y.z"}}
	for i := range limitFailures {
		h := twice
		if i%2 == 1 {
			h = proofWithBearer
		}
		if rec := send(h); rec.Code != 400 {
			t.Fatalf("malformed credentials %d: got %d, want 400", i+1, rec.Code)
		}
	}
	wantLimited(t, send(twice), "1", "malformed credentials over the limit")
	wantLimited(t, f.from(client, "/api/private", "Bearer "+tokReader), "1", "valid token after them")
}

// IPv6 clients are limited by /64: failures from several addresses of one
// /64 add up, and block all of it; the next /64 is another client.
func TestFailureLimitPerIPv6Slash64(t *testing.T) {
	f := newLimitFixture(t)
	for i := range limitFailures {
		remote := netip.AddrPortFrom(netip.MustParseAddr("2001:db8:1:2::1").Next(), uint16(1000+i)).String()
		if i%2 == 1 {
			remote = "[2001:db8:1:2:ffff:ffff:ffff:" + string(rune('a'+i)) + "]:443"
		}
		wantRefused(t, f.from(remote, "/api/private", "Bearer "+tokForged), "forged token from "+remote)
	}
	wantLimited(t, f.from("[2001:db8:1:2:abcd::1]:443", "/api/private", "Bearer "+tokReader), "1", "another address of the /64")
	wantOK(t, f.from("[2001:db8:1:3::1]:443", "/api/private", "Bearer "+tokReader), "the next /64")
	// An IPv4-mapped address is the IPv4 client.
	for range limitFailures {
		wantRefused(t, f.from("[::ffff:192.0.2.33]:443", "/api/private", "Bearer "+tokForged), "forged token from a mapped address")
	}
	wantLimited(t, f.from("192.0.2.33:443", "/api/private", "Bearer "+tokReader), "1", "the same IPv4 client, unmapped")
}

// Behind a trusted proxy the limit follows X-Forwarded-For (the right-most
// address that is not a trusted proxy); from any other peer the header is
// ignored, so a client cannot pass its failures to someone else's
// address, nor escape its own by naming another.
func TestFailureLimitBehindTrustedProxies(t *testing.T) {
	f := newLimitFixture(t, "10.0.0.0/8", "fd00::/8")
	const proxy = "10.0.0.5:3128"
	forged, valid := "Bearer "+tokForged, "Bearer "+tokReader

	// The attacker, behind two proxies, sends a made-up X-Forwarded-For
	// naming a victim; the proxies append what they saw.
	for range limitFailures {
		wantRefused(t, f.from(proxy, "/api/private", forged, "198.51.100.9, 203.0.113.7", "10.1.1.1"), "forged token through the proxies")
	}
	wantLimited(t, f.from(proxy, "/api/private", valid, "203.0.113.7, 10.9.9.9"), "1", "the attacker's valid token through a proxy")
	wantOK(t, f.from(proxy, "/api/private", valid, "198.51.100.9"), "the victim it named, through the proxy")
	wantOK(t, f.from(proxy, "/api/private", valid), "the proxy's own request, without X-Forwarded-For")
	wantOK(t, f.from("[fd00::1]:3128", "/api/private", valid, "[2001:db8::5]:4711"), "an IPv6 client through an IPv6 proxy")

	// A peer that is not a trusted proxy: X-Forwarded-For is ignored, the
	// failures are its own.
	const direct = "192.0.2.50:6000"
	for range limitFailures {
		wantRefused(t, f.from(direct, "/api/private", forged, "198.51.100.77"), "forged token, spoofed X-Forwarded-For")
	}
	wantLimited(t, f.from(direct, "/api/private", valid, "198.51.100.78"), "1", "that peer, naming yet another address")
	wantOK(t, f.from(proxy, "/api/private", valid, "198.51.100.77"), "the address the untrusted peer named")

	// Forwarded (RFC 7239) is never read.
	req := httptest.NewRequest("GET", "/api/private", nil)
	req.RemoteAddr = proxy
	req.Header.Set("Authorization", valid)
	req.Header.Set("Forwarded", "for=203.0.113.7")
	req.Header.Set("X-Forwarded-For", "198.51.100.200")
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	wantOK(t, rec, "Forwarded naming the blocked address, X-Forwarded-For another")
}
