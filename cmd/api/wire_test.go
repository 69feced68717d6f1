// These tests run the injectors of wire.go (the root package) as cmd/api
// uses them: the production graph over real HTTP, and the test graph.
package main_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// memoryStores are the stores of a new in-memory database, one per
// resource, as cmd/api opens them for DATABASE_URL=memory:.
func memoryStores() ports.Stores {
	db := memory.NewDB()
	return ports.Stores{Database: db, Messages: db.Messages()}
}

func get(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if resp.StatusCode < 500 { // every answer below 500 is a JSON object
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s: %d answer is not JSON: %v", url, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, body
}

// The production graph, served over real HTTP on loopback, against an
// issuer on loopback: the same path a deployed service takes.
func TestNewAPI(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	reg := prometheus.NewRegistry()
	v, stop, err := auth0.New(context.Background(), auth0.Config{IssuerBaseURL: iss.URL, Audiences: []string{jwtverifytest.Audience},
		Options: jwtverify.Options{ClockTolerance: 5 * time.Second}}, quiet, reg)
	if err != nil {
		t.Fatalf("auth0.New: %v", err)
	}
	defer stop()
	h, cleanup, err := spaapi.NewAPI(context.Background(), v, v, memoryStores(), app.DefaultMessageQuota,
		dpop.DefaultConfig(), memory.NewReplayCache(1024, ports.ReplayShares{}, nil), app.DPoPAllowed,
		httpapi.Config{AllowedOrigins: []string{"http://localhost:5173"}}, quiet, reg, nil)
	if err != nil {
		t.Fatalf("NewAPI: %v", err)
	}
	defer cleanup()
	srv := httptest.NewServer(h)
	defer srv.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := get(t, srv.URL+"/readyz", ""); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never became 200")
		}
		time.Sleep(20 * time.Millisecond)
	}
	reader := iss.Token(iss.Claims("auth0|alice", "read:messages"))
	plain := iss.Token(iss.Claims("auth0|bob"))
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/api/public", "", 200},
		{"/api/private", "", 401},
		{"/api/private", plain, 200},
		{"/api/private", plain + "x", 401},
		{"/api/private-scoped", plain, 403},
		{"/api/private-scoped", reader, 200},
		{"/api/me", reader, 200},
	} {
		if code, body := get(t, srv.URL+tc.path, tc.token); code != tc.want {
			t.Errorf("GET %s: got %d %v, want %d", tc.path, code, body, tc.want)
		}
	}
	_, body := get(t, srv.URL+"/api/me", reader)
	if sub, _ := body["subject"].(string); sub != "auth0|alice" {
		t.Errorf("/api/me subject: got %v, want auth0|alice", body["subject"])
	}

	// A DPoP-bound token: with its proof, and without.
	key, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Claims("auth0|alice", "read:messages")
	c["cnf"] = map[string]any{"jkt": key.JKT()}
	bound := iss.Token(c)
	send := func(scheme, proof string) int {
		req, err := http.NewRequest("GET", srv.URL+"/api/private", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", scheme+" "+bound)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	proof, err := key.Proof("GET", srv.URL+"/api/private", bound, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code := send("DPoP", proof); code != 200 {
		t.Errorf("DPoP-bound token with its proof: got %d, want 200", code)
	}
	if code := send("DPoP", proof); code != 401 {
		t.Errorf("the same proof again: got %d, want 401", code)
	}
	if code := send("Bearer", ""); code != 401 {
		t.Errorf("DPoP-bound token as Bearer: got %d, want 401", code)
	}
}

// The adapter the production graph is given refuses a bad configuration
// (cmd/api builds it before the graph; config_test.go checks the messages),
// and so does the graph a bad DPoP configuration.
func TestNewAPIRefusesBadConfig(t *testing.T) {
	cfg := dpop.DefaultConfig()
	cfg.Algorithms = []string{"HS256"}
	_, _, err := spaapi.NewAPI(context.Background(), fake.New(), fake.New(), memoryStores(), app.DefaultMessageQuota,
		cfg, memory.NewReplayCache(64, ports.ReplayShares{}, nil), app.DPoPAllowed, httpapi.Config{}, quiet, prometheus.NewRegistry(), nil)
	if err == nil || !strings.Contains(err.Error(), "HS256") {
		t.Errorf("HS256 for DPoP proofs: got %v, want it refused", err)
	}
	_, _, err = auth0.New(context.Background(), auth0.Config{IssuerBaseURL: "http://issuer.example/", Audiences: []string{"a"}}, quiet, prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "must use https") {
		t.Fatalf("got %v, want the http issuer on a public host refused", err)
	}
}

// The test graph takes any verifier.
func TestNewTestAPI(t *testing.T) {
	v := fake.New()
	v.Accept("tok", domain.Principal{Subject: "auth0|alice", Scopes: []string{"read:messages"}})
	h, err := spaapi.NewTestAPI(v, v, memoryStores(), app.DefaultMessageQuota,
		dpop.DefaultConfig(), memory.NewReplayCache(64, ports.ReplayShares{}, nil), app.DPoPAllowed, httpapi.Config{}, quiet, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	if code, _ := get(t, srv.URL+"/api/private-scoped", "tok"); code != 200 {
		t.Errorf("fake token: got %d, want 200", code)
	}
	if code, _ := get(t, srv.URL+"/api/private-scoped", "other"); code != 401 {
		t.Errorf("unknown token: got %d, want 401", code)
	}
}
