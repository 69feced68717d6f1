package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

const (
	spa   = "http://localhost:5173"
	other = "https://evil.example"
)

// tokens the fake verifier knows.
const (
	tokReader  = "reader-token.with.read-messages"
	tokNoScope = "plain-token.without.scopes"
	tokExpired = "expired-token.old.sig"
	tokSpaced  = "known to the fake but not b64token"
)

type fixture struct {
	handler http.Handler
	fake    *fake.Verifier
	store   *fake.Messages
	logs    *lockedBuffer
	reg     *prometheus.Registry
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fixtureQuota is MESSAGES_PER_USER in the fixture.
const fixtureQuota = 5

func newFixture(t *testing.T) *fixture {
	t.Helper()
	v := fake.New()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	v.Accept(tokReader, domain.Principal{
		Subject: "auth0|alice", Issuer: "https://issuer.example/", Audiences: []string{"https://api.example"},
		Scopes: []string{"openid", "read:messages"}, Permissions: []string{"read:messages"}, ClientID: "spa", ExpiresAt: exp,
	})
	v.Accept(tokNoScope, domain.Principal{Subject: "auth0|bob", Issuer: "https://issuer.example/", Audiences: []string{"https://api.example"}, ExpiresAt: exp})
	v.Accept(tokSpaced, domain.Principal{Subject: "auth0|spaced"})
	v.Refuse(tokExpired, domain.InvalidToken(domain.ReasonExpired, errors.New("token is expired")))
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	reg := prometheus.NewRegistry()
	metrics, err := httpapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	store := fake.NewMessages()
	proofs, replay := newProofs(t, nil)
	h := httpapi.NewRouter(httpapi.Config{AllowedOrigins: []string{spa, "http://localhost:3000"}}, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, nil),
		Health:   app.NewHealth(v, ports.Stores{Database: store, Messages: store}, replay),
		Messages: app.NewMessages(store, fixtureQuota),
	}, log, metrics)
	return &fixture{handler: h, fake: v, store: store, logs: logs, reg: reg}
}

// do sends a request through the whole router.
func (f *fixture) do(method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

func auth(v string) http.Header { return http.Header{"Authorization": {v}} }

// decodeError checks the body is the JSON error shape and returns its code.
func decodeError(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type: got %q, want application/json", ct)
	}
	var body errorBody
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body is not {error, error_description}: %v", err)
	}
	if body.Error == "" || body.Description == "" {
		t.Fatalf("error body %+v: both fields must be set", body)
	}
	return body
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func TestAnswers(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name      string
		method    string
		target    string
		header    http.Header
		status    int
		challenge string // exact WWW-Authenticate, "" for none
		code      string // error code in the body, "" for success
	}{
		{"public without token", "GET", "/api/public", nil, 200, "", ""},
		{"public ignores a bad token", "GET", "/api/public", auth("Bearer garbage"), 200, "", ""},

		{"no Authorization header", "GET", "/api/private", nil, 401, `Bearer realm="api"`, "unauthorized"},
		{"blank Authorization header", "GET", "/api/private", auth(""), 401, `Bearer realm="api"`, "unauthorized"},
		{"space-only Authorization header", "GET", "/api/private", auth(" "), 401, `Bearer realm="api"`, "unauthorized"},
		{"Bearer and nothing else", "GET", "/api/private", auth("Bearer"), 401, `Bearer realm="api"`, "unauthorized"},
		{"Bearer and spaces", "GET", "/api/private", auth("Bearer    "), 401, `Bearer realm="api"`, "unauthorized"},
		{"another scheme", "GET", "/api/private", auth("Basic dXNlcjpwYXNz"), 401, `Bearer realm="api"`, "unauthorized"},
		{"Bearer glued to the token", "GET", "/api/private", auth("Bearer" + tokReader), 401, `Bearer realm="api"`, "unauthorized"},
		{"token only in the query", "GET", "/api/private?access_token=" + tokReader, nil, 401, `Bearer realm="api"`, "unauthorized"},

		{"invalid token", "GET", "/api/private", auth("Bearer invalidToken"), 401,
			`Bearer realm="api", error="invalid_token", error_description="malformed token"`, "invalid_token"},
		{"garbled credentials", "GET", "/api/private", auth("Bearer invalidToken abc"), 401,
			`Bearer realm="api", error="invalid_token", error_description="malformed token"`, "invalid_token"},
		{"not b64token", "GET", "/api/private", auth("Bearer tok=en"), 401,
			`Bearer realm="api", error="invalid_token", error_description="malformed token"`, "invalid_token"},
		{"not b64token never reaches the verifier", "GET", "/api/private", auth("Bearer " + tokSpaced), 401,
			`Bearer realm="api", error="invalid_token", error_description="malformed token"`, "invalid_token"},
		{"expired token", "GET", "/api/private", auth("Bearer " + tokExpired), 401,
			`Bearer realm="api", error="invalid_token", error_description="token expired"`, "invalid_token"},
		{"invalid token on the scoped route", "GET", "/api/private-scoped", auth("Bearer invalidToken"), 401,
			`Bearer realm="api", error="invalid_token", error_description="malformed token"`, "invalid_token"},

		{"two Authorization headers", "GET", "/api/private", http.Header{"Authorization": {"Bearer " + tokReader, "Bearer " + tokReader}}, 400,
			`Bearer realm="api", error="invalid_request", error_description="more than one Authorization header"`, "invalid_request"},
		{"token in header and query", "GET", "/api/private?access_token=x", auth("Bearer " + tokReader), 400,
			`Bearer realm="api", error="invalid_request", error_description="access token given in both the Authorization header and the query string"`, "invalid_request"},

		{"valid token", "GET", "/api/private", auth("Bearer " + tokReader), 200, "", ""},
		{"lower-case scheme", "GET", "/api/private", auth("bearer " + tokReader), 200, "", ""},
		{"upper-case scheme, several spaces", "GET", "/api/private", auth("BEARER   " + tokReader), 200, "", ""},
		{"scoped with the scope", "GET", "/api/private-scoped", auth("Bearer " + tokReader), 200, "", ""},
		{"scoped without the scope", "GET", "/api/private-scoped", auth("Bearer " + tokNoScope), 403,
			`Bearer realm="api", error="insufficient_scope", error_description="insufficient scope: read:messages required", scope="read:messages"`, "insufficient_scope"},
		{"scoped without a token", "GET", "/api/private-scoped", nil, 401, `Bearer realm="api"`, "unauthorized"},
		{"me", "GET", "/api/me", auth("Bearer " + tokNoScope), 200, "", ""},
		{"me without a token", "GET", "/api/me", nil, 401, `Bearer realm="api"`, "unauthorized"},

		{"unknown path", "GET", "/nope", nil, 404, "", "not_found"},
		{"unknown api path", "GET", "/api/nope", nil, 404, "", "not_found"},
		{"wrong method", "POST", "/api/private", auth("Bearer " + tokReader), 405, "", "method_not_allowed"},
		{"HEAD without a token", "HEAD", "/api/private", nil, 401, `Bearer realm="api"`, ""},
		{"healthz", "GET", "/healthz", nil, 200, "", ""},
		{"readyz", "GET", "/readyz", nil, 200, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.method, tc.target, tc.header)
			if rec.Code != tc.status {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tc.status, rec.Body)
			}
			// DPOP_MODE=allowed (the fixture's, the default): every 401
			// also offers the DPoP scheme, in a header field of its own.
			want := tc.challenge
			if tc.status == 401 {
				want += "\n" + dpopOffer
			}
			if got := strings.Join(challengesOf(t, rec.Header()), "\n"); got != want {
				t.Errorf("WWW-Authenticate:\n got %s\nwant %s", got, want)
			}
			if tc.code != "" {
				if got := decodeError(t, rec).Error; got != tc.code {
					t.Errorf("error: got %q, want %q", got, tc.code)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
		})
	}
}

func TestBodies(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ target, token, want string }{
		{"/api/public", "", "Hello from a public endpoint! You don't need to be authenticated to see this."},
		{"/api/private", tokNoScope, "Hello from a private endpoint! You need to be authenticated to see this."},
		{"/api/private-scoped", tokReader, "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."},
	} {
		var h http.Header
		if tc.token != "" {
			h = auth("Bearer " + tc.token)
		}
		rec := f.do("GET", tc.target, h)
		var got struct{ Message string }
		if err := json.NewDecoder(rec.Body).Decode(&got); err != nil || got.Message != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.target, got.Message, err, tc.want)
		}
	}

	rec := f.do("GET", "/api/me", auth("Bearer "+tokReader))
	want := `{"subject":"auth0|alice","issuer":"https://issuer.example/","audience":["https://api.example"],` +
		`"scopes":["openid","read:messages"],"permissions":["read:messages"],"client_id":"spa","expires_at":"2030-01-02T03:04:05Z"}`
	if got := strings.TrimSpace(rec.Body.String()); got != want {
		t.Errorf("/api/me:\n got %s\nwant %s", got, want)
	}
}

func TestCacheControl(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		target string
		header http.Header
		want   string
	}{
		{"/api/private", auth("Bearer " + tokReader), "no-store"},
		{"/api/me", auth("Bearer " + tokReader), "no-store"},
		{"/api/private", nil, "no-store"},
		{"/api/public", nil, ""},
	} {
		if got := f.do("GET", tc.target, tc.header).Header().Get("Cache-Control"); got != tc.want {
			t.Errorf("%s: Cache-Control got %q, want %q", tc.target, got, tc.want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	f := newFixture(t)
	f.fake.SetReady(false)
	rec := f.do("GET", "/api/private", auth("Bearer "+tokReader))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status: got %d, want 503", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Errorf("Retry-After missing")
	}
	want := errorBody{"temporarily_unavailable", "not available: the token signing keys; retry shortly"}
	if got := decodeError(t, rec); got != want {
		t.Errorf("body: got %+v, want %+v", got, want)
	}
	rec = f.do("GET", "/readyz", nil)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while not ready: got %d, want 503", rec.Code)
	}
	if got := decodeError(t, rec); got != want {
		t.Errorf("/readyz body: got %+v, want %+v", got, want)
	}
	if rec := f.do("GET", "/healthz", nil); rec.Code != http.StatusOK {
		t.Errorf("/healthz while not ready: got %d, want 200", rec.Code)
	}
	if rec := f.do("GET", "/api/public", nil); rec.Code != http.StatusOK {
		t.Errorf("/api/public while not ready: got %d, want 200", rec.Code)
	}
	// A garbage token is still a 401, not a 503.
	if rec := f.do("GET", "/api/private", auth("Bearer garbage")); rec.Code != http.StatusUnauthorized {
		t.Errorf("garbage while not ready: got %d, want 401", rec.Code)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ method, target, allow string }{
		{"POST", "/api/public", "GET, HEAD"},
		{"DELETE", "/api/private", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
	} {
		rec := f.do(tc.method, tc.target, nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: got %d Allow %q, want 405 Allow %q", tc.method, tc.target, rec.Code, rec.Header().Get("Allow"), tc.allow)
		}
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t)
	preflight := func(origin string) *httptest.ResponseRecorder {
		return f.do("OPTIONS", "/api/private", http.Header{
			"Origin":                         {origin},
			"Access-Control-Request-Method":  {"GET"},
			"Access-Control-Request-Headers": {"authorization"},
		})
	}

	t.Run("preflight from the SPA needs no token", func(t *testing.T) {
		rec := preflight(spa)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("status: got %d, want 204", rec.Code)
		}
		h := rec.Header()
		if h.Get("Access-Control-Allow-Origin") != spa {
			t.Errorf("Allow-Origin: got %q, want %q", h.Get("Access-Control-Allow-Origin"), spa)
		}
		for _, want := range []string{"Authorization", "traceparent", "tracestate"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("Allow-Headers: got %q, want %s in it", h.Get("Access-Control-Allow-Headers"), want)
			}
		}
		if !strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") {
			t.Errorf("Allow-Methods: got %q", h.Get("Access-Control-Allow-Methods"))
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("Allow-Credentials set; bearer tokens need no credentials mode")
		}
	})
	t.Run("preflight from another origin gets no CORS headers", func(t *testing.T) {
		rec := preflight(other)
		if rec.Code == http.StatusNoContent || rec.Code == http.StatusOK {
			t.Errorf("status: got %d, want a refusal", rec.Code)
		}
		for k := range rec.Header() {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("header %s set for a foreign origin", k)
			}
		}
	})
	for _, tc := range []struct {
		name   string
		target string
		header http.Header
		status int
	}{
		{"200", "/api/public", nil, 200},
		{"401", "/api/private", nil, 401},
		{"401 invalid_token", "/api/private", auth("Bearer bad"), 401},
		{"403", "/api/private-scoped", auth("Bearer " + tokNoScope), 403},
		{"404", "/api/nope", nil, 404},
	} {
		t.Run("SPA can read a "+tc.name, func(t *testing.T) {
			h := http.Header{"Origin": {spa}}
			for k, v := range tc.header {
				h[k] = v
			}
			rec := f.do("GET", tc.target, h)
			if rec.Code != tc.status {
				t.Fatalf("status: got %d, want %d", rec.Code, tc.status)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != spa {
				t.Errorf("Allow-Origin: got %q, want %q", got, spa)
			}
			if !strings.Contains(rec.Header().Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
				t.Errorf("WWW-Authenticate not exposed to the SPA")
			}
			if !strings.Contains(strings.Join(rec.Header().Values("Vary"), ","), "Origin") {
				t.Errorf("Vary: Origin missing")
			}
		})
		t.Run("foreign origin gets no CORS headers on a "+tc.name, func(t *testing.T) {
			h := http.Header{"Origin": {other}}
			for k, v := range tc.header {
				h[k] = v
			}
			rec := f.do("GET", tc.target, h)
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("Allow-Origin: got %q, want none", got)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	f := newFixture(t)
	if got := f.do("GET", "/api/public", http.Header{"X-Request-Id": {"abc-123"}}).Header().Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("caller's request ID: got %q, want abc-123", got)
	}
	a := f.do("GET", "/api/public", nil).Header().Get("X-Request-ID")
	b := f.do("GET", "/api/public", http.Header{"X-Request-Id": {"bad id\x01" + strings.Repeat("x", 100)}}).Header().Get("X-Request-ID")
	if len(a) != 24 || len(b) != 24 || a == b {
		t.Errorf("generated request IDs: got %q and %q, want two distinct 24-character IDs", a, b)
	}
}

func TestLogs(t *testing.T) {
	f := newFixture(t)
	f.do("GET", "/api/private", auth("Bearer "+tokReader))
	f.do("GET", "/api/private", auth("Bearer "+tokExpired))
	f.do("GET", "/api/private-scoped", auth("Bearer "+tokNoScope))
	f.do("GET", "/api/private", http.Header{"Authorization": {"Bearer " + tokReader, "Bearer " + tokNoScope}})
	f.do("GET", "/api/private?access_token="+tokExpired, auth("Bearer "+tokReader))

	out := f.logs.String()
	for _, tok := range []string{tokReader, tokNoScope, tokExpired} {
		if strings.Contains(out, tok) {
			t.Errorf("log contains a token: %s", out)
		}
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	if len(lines) != 5 {
		t.Fatalf("got %d log lines, want 5:\n%s", len(lines), out)
	}
	want := []map[string]any{
		{"route": "/api/private", "status": 200.0, "subject": "auth0|alice"},
		{"route": "/api/private", "status": 401.0, "reason": "expired"},
		{"route": "/api/private-scoped", "status": 403.0, "reason": "insufficient_scope", "subject": "auth0|bob"},
		{"route": "/api/private", "status": 400.0, "reason": "invalid_request"},
		{"route": "/api/private", "status": 400.0, "reason": "invalid_request"},
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s got %v, want %v", i, k, lines[i][k], v)
			}
		}
		id, ok := lines[i]["request_id"].(string)
		if method, _ := lines[i]["method"].(string); !ok || id == "" || method != "GET" {
			t.Errorf("line %d lacks request_id or method: %v", i, lines[i])
		}
	}
}
