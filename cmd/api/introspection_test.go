package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/introspection"
)

// The binary's path with AUTH_PROVIDER=introspection, against a stand-in
// RFC 7662 endpoint on loopback:
//   - while the endpoint refuses the API's credentials (401), /readyz and
//     protected calls are 503, the latter naming the introspection
//     endpoint; once it accepts them, /readyz is 200 again;
//   - an active token passes, an inactive one is 401 invalid_token;
//   - hostile active answers (no aud, a refresh token, an issuer with
//     something appended, ...) are 401 invalid_token with their
//     description;
//   - while the endpoint is down the answer is 503 with Retry-After,
//     never acceptance, and /readyz stays 200.
func TestRunWithIntrospection(t *testing.T) {
	const (
		issuer   = "https://issuer.example"
		audience = "https://api.example"
	)
	var down atomic.Bool
	var secret atomic.Value // the secret the endpoint accepts for spaapi
	secret.Store("rotated-elsewhere")
	exp := time.Now().Add(time.Hour).Unix()
	answers := map[string]map[string]any{
		"good-token":  {"active": true, "sub": "alice", "scope": "read:messages", "client_id": "spa", "aud": audience, "iss": issuer, "exp": exp, "token_type": "Bearer"},
		"plain-token": {"active": true, "sub": "bob", "aud": audience},
		// What oidc-provider answers for a refresh token under its default
		// introspection policy: active, without aud or token_type.
		"refresh-token":        {"active": true, "sub": "alice", "scope": "openid offline_access read:messages", "client_id": "spa", "iss": issuer, "exp": exp, "jti": "kY3cLBbkXgW0bRu1M7aVb"},
		"no-aud-token":         {"active": true, "sub": "alice", "scope": "read:messages", "client_id": "spa"},
		"empty-aud-token":      {"active": true, "sub": "alice", "scope": "read:messages", "aud": []string{}},
		"other-aud-token":      {"active": true, "sub": "alice", "scope": "read:messages", "aud": "https://other.example"},
		"typed-refresh-token":  {"active": true, "sub": "alice", "scope": "read:messages", "aud": audience, "token_type": "refresh_token"},
		"n-a-token":            {"active": true, "sub": "alice", "scope": "read:messages", "aud": audience, "token_type": "N_A"},
		"hydra-refresh-token":  {"active": true, "sub": "alice", "scope": "read:messages", "aud": []string{audience}, "token_type": "Bearer", "token_use": "refresh_token"},
		"issuer-path-token":    {"active": true, "sub": "alice", "scope": "read:messages", "aud": audience, "iss": issuer + "/evil"},
		"issuer-suffix-token":  {"active": true, "sub": "alice", "scope": "read:messages", "aud": audience, "iss": issuer + ".attacker"},
		"issuer-slashed-token": {"active": true, "sub": "alice", "scope": "read:messages", "aud": audience, "iss": issuer + "/"},
	}
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		user, pass, _ := r.BasicAuth()
		if user != "spaapi" || pass != secret.Load().(string) {
			w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if r.ParseForm() != nil {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		answer, ok := answers[r.PostForm.Get("token")]
		if !ok {
			answer = map[string]any{"active": false}
		}
		json.NewEncoder(w).Encode(answer)
	}))
	defer endpoint.Close()
	secretFile := t.TempDir() + "/secret"
	if err := writeFile(secretFile, "s3cret\n"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{
			"AUTH_PROVIDER": "introspection", "INTROSPECTION_URL": endpoint.URL + "/introspect", "ISSUER_BASE_URL": issuer,
			"INTROSPECTION_CLIENT_ID": "spaapi", "INTROSPECTION_CLIENT_SECRET_FILE": secretFile, "INTROSPECTION_CACHE_TTL": "1s",
			"AUDIENCE": audience, "ADDR": "127.0.0.1:0", "METRICS_ADDR": "off",
		}), io.Discard, logs)
	}()
	base := logs.baseURL(t)
	unavailable := `{"error":"temporarily_unavailable","error_description":"not available: the token introspection endpoint; retry shortly"}`

	// The endpoint does not take the API's secret.
	if resp, body := call(t, base+"/readyz", ""); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("/readyz while the endpoint refuses the API's credentials: got %d (Retry-After %q) %s, want 503", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, body := call(t, base+"/api/private-scoped", "good-token"); resp.StatusCode != 503 || strings.TrimSpace(body) != unavailable {
		t.Errorf("a token while the endpoint refuses the API's credentials: got %d %s, want 503 %s", resp.StatusCode, body, unavailable)
	}
	// It does now (the secret was put right at the identity provider).
	secret.Store("s3cret")
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

	for _, tc := range []struct{ token, description string }{
		{"refresh-token", "required claim missing"},
		{"no-aud-token", "required claim missing"},
		{"empty-aud-token", "required claim missing"},
		{"other-aud-token", "audience not accepted"},
		{"typed-refresh-token", "token type not accepted"},
		{"n-a-token", "token type not accepted"},
		{"hydra-refresh-token", "token type not accepted"},
		{"issuer-path-token", "issuer not accepted"},
		{"issuer-suffix-token", "issuer not accepted"},
		{"issuer-slashed-token", "issuer not accepted"},
	} {
		t.Run(tc.token, func(t *testing.T) {
			resp, body := call(t, base+"/api/private-scoped", tc.token)
			var got struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != 401 || got.Error != "invalid_token" || got.Description != tc.description ||
				!strings.Contains(challenge, `error="invalid_token"`) || !strings.Contains(challenge, fmt.Sprintf("error_description=%q", tc.description)) {
				t.Errorf("got %d %q %s, want 401 invalid_token %q", resp.StatusCode, challenge, body, tc.description)
			}
		})
	}

	down.Store(true)
	resp, body = call(t, base+"/api/private", "another-token")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || strings.TrimSpace(body) != unavailable {
		t.Errorf("endpoint down: got %d (Retry-After %q) %s, want 503 with Retry-After and %s", resp.StatusCode, resp.Header.Get("Retry-After"), body, unavailable)
	}
	// Down is not a refusal of the API's credentials: still ready.
	time.Sleep(introspection.ProbeInterval + 100*time.Millisecond) // /readyz asks the endpoint again
	if resp, body := call(t, base+"/readyz", ""); resp.StatusCode != 200 {
		t.Errorf("/readyz while the endpoint is down: got %d %s, want 200", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	// After run returns, every log line has been written.
	if strings.Contains(logs.String(), "good-token") || strings.Contains(logs.String(), "another-token") {
		t.Errorf("a token is in the log")
	}
	if !strings.Contains(logs.String(), "the introspection endpoint refuses this API's credentials") {
		t.Errorf("the log does not say the endpoint refused the API's credentials")
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
