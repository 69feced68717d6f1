package devissuer_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/devissuer"
)

// AllowOrigins lets a client log in from more origins, in memory: the
// login page opens for a redirect_uri among them (and for the configured
// ones), another origin is still refused, config.json is left as it was,
// and an unknown client stops Open.
func TestAllowOrigins(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, _, err := devissuer.LoadConfig(dir); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := devissuer.Open(dir, "http://localhost:1/", nil, quiet,
		devissuer.AllowOrigins(devissuer.DefaultSPAClient, "http://localhost:18240", "http://127.0.0.1:18240"))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for origin, want := range map[string]int{
		"http://localhost:18240": 200, "http://127.0.0.1:18240": 200, "http://localhost:5173": 200,
		"http://localhost:18241": 400, "http://localhost:18240/": 400,
	} {
		q := url.Values{"client_id": {devissuer.DefaultSPAClient}, "redirect_uri": {origin}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"s"}, "code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/authorize?"+q.Encode(), nil))
		if rec.Code != want {
			t.Errorf("redirect_uri %s: got %d, want %d", origin, rec.Code, want)
		}
	}
	// The token endpoint answers the new origin's browser calls (CORS).
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("OPTIONS", "/oauth/token", nil)
	req.Header.Set("Origin", "http://127.0.0.1:18240")
	req.Header.Set("Access-Control-Request-Method", "POST")
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "http://127.0.0.1:18240" || rec.Code >= 300 {
		t.Errorf("preflight from the new origin: got %d, Access-Control-Allow-Origin %q", rec.Code, got)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if string(after) != string(before) {
		t.Errorf("config.json changed:\n%s", after)
	}

	_, _, err = devissuer.Open(dir, "http://localhost:1/", nil, quiet, devissuer.AllowOrigins("nobody", "http://localhost:1"))
	if err == nil || !strings.HasSuffix(err.Error(), `config.json: no client "nobody" in the configuration`) {
		t.Errorf("an unknown client: got %v", err)
	}
	_, _, err = devissuer.Open(dir, "http://localhost:1/", nil, quiet, devissuer.AllowOrigins(devissuer.DefaultSPAClient, "javascript:alert(1)"))
	if err == nil {
		t.Errorf("a javascript: origin: got no error")
	}
}
