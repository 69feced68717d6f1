package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

func TestRecoverPanics(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
		logRequests(log, testMetrics(t), nil), cors([]string{"http://localhost:3000"}, []string{"GET"}), recoverPanics(log))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status: got %d, want 500", rec.Code)
	}
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != "server_error" {
		t.Errorf("body: got %s, want server_error JSON", rec.Body)
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("panic value leaked to the client: %s", rec.Body)
	}
	if rec.Header().Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("500 lacks CORS headers for the SPA")
	}
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

func testMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIsB64Token(t *testing.T) {
	for s, want := range map[string]bool{
		"abc":             true,
		"a.b.c":           true,
		"AZaz09-._~+/":    true,
		"abc==":           true,
		"=":               false,
		"":                false,
		"a=b":             false,
		"a b":             false,
		"a\tb":            false,
		"a,b":             false,
		"ab\"":            false,
		"é":               false,
		"eyJ.eyJ.sig====": true,
	} {
		if got := isB64Token(s); got != want {
			t.Errorf("isB64Token(%q): got %v, want %v", s, got, want)
		}
	}
}

func TestNormalizeOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:3000":    "http://localhost:3000",
		"https://App.Example.com/": "https://app.example.com",
		"*":                        "*",
		"localhost:3000":           "",
		"https://a.example/path":   "",
		"ftp://a.example":          "",
		"https://":                 "",
		"null":                     "",
	} {
		got, err := NormalizeOrigin(in)
		if want == "" {
			if err == nil {
				t.Errorf("NormalizeOrigin(%q): got %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalizeOrigin(%q): got %q, %v; want %q", in, got, err, want)
		}
	}
}

// exactRoutes answers exactly as mux would: a path an earlier template
// route takes stays with mux, and paths mux cleans or does not know go
// to mux.
func TestExactRoutesAnswerAsMux(t *testing.T) {
	r := mux.NewRouter()
	e := &exactRoutes{mux: r}
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(name)) })
	}
	handle := func(template, name string, methods ...string) {
		h := handler(name)
		e.add(template, methods, r.Handle(template, h).Methods(methods...), h)
	}
	handle("/a/{x}", "template", http.MethodGet)
	handle("/a/b", "shadowed", http.MethodGet, http.MethodPost) // mux takes GET /a/b to the template
	handle("/c", "c", http.MethodGet)
	e.check()
	if _, ok := e.routes["/a/b"][http.MethodGet]; ok {
		t.Errorf("GET /a/b is on the fast path, but mux routes it to /a/{x}")
	}
	if _, ok := e.routes["/c"][http.MethodGet]; !ok {
		t.Errorf("GET /c is not on the fast path")
	}
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/a/b", "template"},
		{"POST", "/a/b", "shadowed"},
		{"GET", "/c", "c"},
		{"GET", "/a/x", "template"},
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Body.String() != tc.want {
			t.Errorf("%s %s: got %q, want %q", tc.method, tc.path, rec.Body.String(), tc.want)
		}
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/c/", http.StatusNotFound},
		{"POST", "/c", http.StatusMethodNotAllowed},
		{"GET", "//c", http.StatusMovedPermanently}, // mux cleans the path
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("%s %s: got %d, want %d", tc.method, tc.path, rec.Code, tc.status)
		}
	}
}
