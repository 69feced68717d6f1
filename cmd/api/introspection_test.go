package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// The binary's path with AUTH_PROVIDER=introspection, against a stand-in
// RFC 7662 endpoint on loopback: an active token passes, an inactive one
// is 401 invalid_token, and while the endpoint is down the answer is 503
// with Retry-After, never acceptance.
func TestRunWithIntrospection(t *testing.T) {
	var down atomic.Bool
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if down.Load() || user != "spaapi" || pass != "s3cret" || r.ParseForm() != nil {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		answer := map[string]any{"active": false}
		switch r.PostForm.Get("token") {
		case "good-token":
			answer = map[string]any{"active": true, "sub": "alice", "scope": "read:messages", "client_id": "spa", "aud": "https://api.example"}
		case "plain-token":
			answer = map[string]any{"active": true, "sub": "bob", "aud": "https://api.example"}
		}
		json.NewEncoder(w).Encode(answer)
	}))
	defer endpoint.Close()
	secret := t.TempDir() + "/secret"
	if err := writeFile(secret, "s3cret\n"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{
			"AUTH_PROVIDER": "introspection", "INTROSPECTION_URL": endpoint.URL + "/introspect",
			"INTROSPECTION_CLIENT_ID": "spaapi", "INTROSPECTION_CLIENT_SECRET_FILE": secret, "INTROSPECTION_CACHE_TTL": "1s",
			"AUDIENCE": "https://api.example", "ADDR": "127.0.0.1:0", "METRICS_ADDR": "off",
		}), io.Discard, logs)
	}()
	base := logs.baseURL(t)
	waitStatus(t, base+"/readyz", 200)

	if resp, body := call(t, base+"/api/private-scoped", "good-token"); resp.StatusCode != 200 {
		t.Errorf("active token with the scope: got %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, base+"/api/private-scoped", "plain-token"); resp.StatusCode != 403 || !strings.Contains(body, "insufficient_scope") {
		t.Errorf("active token without the scope: got %d %s", resp.StatusCode, body)
	}
	resp, body := call(t, base+"/api/private", "revoked-token")
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) || !strings.Contains(body, "token not active") {
		t.Errorf("inactive token: got %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	down.Store(true)
	resp, body = call(t, base+"/api/private", "another-token")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("endpoint down: got %d (Retry-After %q) %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	// After run returns, every log line has been written.
	if strings.Contains(logs.String(), "good-token") || strings.Contains(logs.String(), "another-token") {
		t.Errorf("a token is in the log")
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
