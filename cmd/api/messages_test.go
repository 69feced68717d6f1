package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/postgres/postgrestest"
	"github.com/example/spaapi/adapters/sqlite"
	"github.com/example/spaapi/domain"

	_ "modernc.org/sqlite" // rawSQLite opens the file as an operator would
)

func rawSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var client = &http.Client{Timeout: 15 * time.Second}

// postMessage posts text and returns the status and, on 201, the id.
func postMessage(base, token, text string) (int, string, error) {
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest("POST", base+"/api/messages", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var m domain.Message
	if resp.StatusCode == http.StatusCreated {
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			return 0, "", fmt.Errorf("a 201 without a message: %w", err)
		}
	}
	return resp.StatusCode, m.ID, nil
}

// mustPost posts text and fails t unless it is answered 201.
func mustPost(t *testing.T, base, token, text string) string {
	t.Helper()
	status, id, err := postMessage(base, token, text)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("POST %s: got %d, %v; want 201", base, status, err)
	}
	return id
}

// listAll follows next_cursor through every page of base's messages.
func listAll(t *testing.T, base, token string) []domain.Message {
	t.Helper()
	var all []domain.Message
	target := base + "/api/messages?limit=100"
	for range 10_000 {
		resp, body := call(t, target, token)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: got %d %s", target, resp.StatusCode, body)
		}
		var page struct {
			Messages   []domain.Message `json:"messages"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		all = append(all, page.Messages...)
		if page.NextCursor == "" {
			return all
		}
		target = base + "/api/messages?limit=100&cursor=" + url.QueryEscape(page.NextCursor)
	}
	t.Fatal("no last page")
	return nil
}

func ids(msgs []domain.Message) map[string]bool {
	out := map[string]bool{}
	for _, m := range msgs {
		out[m.ID] = true
	}
	return out
}

func deleteMessage(t *testing.T, base, token, id string) int {
	t.Helper()
	req, err := http.NewRequest("DELETE", base+"/api/messages/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Every post answered 201 is there after a restart, whether the API was
// stopped gracefully (SIGTERM) or killed (SIGKILL) in the middle of a
// stream of posts. The binary runs as users run it, on an SQLite file.
func TestBinaryKeepsEveryAcknowledgedPost(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	token := iss.Token(iss.Claims("auth0|writer", "read:messages", "write:messages"))
	for _, tc := range []struct {
		name   string
		signal syscall.Signal
	}{
		{"SIGTERM", syscall.SIGTERM},
		{"kill -9", syscall.SIGKILL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"ISSUER_BASE_URL=" + iss.URL, "AUDIENCE=" + jwtverifytest.Audience, "ADDR=127.0.0.1:0",
				"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "messages.db"), "MESSAGES_PER_USER=1000000"}
			cmd, logs := startBinary(t, env...)
			base := logs.baseURL(t)
			waitStatus(t, base+"/readyz", 200)

			var mu sync.Mutex
			var acked []string
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := 0; ; i++ {
						status, id, err := postMessage(base, token, fmt.Sprintf("poster %d, message %d", g, i))
						if err != nil {
							return // the server went away
						}
						if status != http.StatusCreated {
							t.Errorf("poster %d: got %d, want 201", g, status)
							return
						}
						mu.Lock()
						acked = append(acked, id)
						mu.Unlock()
					}
				})
			}
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 300 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("only %d posts answered in 30s", n)
				}
			}
			if err := cmd.Process.Signal(tc.signal); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			wg.Wait()
			if tc.signal == syscall.SIGTERM && err != nil {
				t.Errorf("exit after SIGTERM: got %v, want status 0", err)
			}

			_, logs = startBinary(t, env...)
			base = logs.baseURL(t)
			waitStatus(t, base+"/readyz", 200)
			stored := ids(listAll(t, base, token))
			lost := 0
			for _, id := range acked {
				if !stored[id] {
					lost++
				}
			}
			t.Logf("%d posts answered 201 before %s, %d stored after the restart", len(acked), tc.name, len(stored))
			if lost > 0 {
				t.Errorf("%d of %d posts answered 201 are gone after %s and a restart", lost, len(acked), tc.name)
			}
		})
	}
}

// With -dev and nothing else set, messages go to a file beside the
// development issuer's and are there after a restart; their author can
// still delete them.
func TestDevModeKeepsMessagesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuerAddr := ln.Addr().String() // the same issuer (and so author) after the restart
	ln.Close()
	start := func() (string, func()) {
		home := t.TempDir()
		base, logs, stop := runDev(t, func(k string) string { return map[string]string{"HOME": home}[k] },
			"-dev-dir", dir, "-addr", "127.0.0.1:0", "-dev-issuer-addr", issuerAddr, "-metrics-addr", "off")
		if line := logs.waitFor(t, `"msg":"listening"`); line["messages"] != "sqlite:"+filepath.Join(dir, "messages.db") {
			t.Errorf("messages kept in %v, want beside the dev files", line["messages"])
		}
		waitStatus(t, base+"/readyz", 200)
		return base, stop
	}
	token := func(extra ...string) string {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"token", "-dev-dir", dir, "-dev-issuer-addr", issuerAddr, "-scope", "read:messages write:messages"}, extra...),
			env(nil), &stdout, &stderr)
		if err != nil {
			t.Fatalf("token: %v %s", err, stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}

	base, stop := start()
	id := mustPost(t, base, token(), "still here after a restart?")
	stop()

	base, stop = start()
	defer stop()
	if !ids(listAll(t, base, token()))[id] {
		t.Fatalf("the message is gone after a restart")
	}
	// -dev asks for the second step to delete (STEP_UP's default).
	if status := deleteMessage(t, base, token("-acr", devissuer.ACRMultiFactor, "-auth-time", "now"), id); status != 204 {
		t.Errorf("its author deleting it after the restart: got %d, want 204", status)
	}
}

func TestBinaryRefusesAnUnknownDatabase(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	s, err := sqlite.Open(context.Background(), newer)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The version after the newest migration file this program has.
	known, err := sqlite.SchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	db := rawSQLite(t, newer)
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future.sql', 'later')`, known+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, tc := range []struct{ value, want string }{
		{"mysql://root:hunter2@db/app", `api: DATABASE_URL: "mysql:" is not a supported database: use sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:` + "\n"},
		{"sqlite:" + newer, fmt.Sprintf("api: DATABASE_URL: sqlite: %s: the database schema is at version %d, newer than this program knows (%d): run the newer program, or use another database\n", newer, known+1, known)},
	} {
		cmd := exec.Command(binary(t))
		cmd.Env = []string{"ISSUER_BASE_URL=https://tenant.auth0.com/", "AUDIENCE=https://api.example.com", "ADDR=127.0.0.1:0", "METRICS_ADDR=off", "DATABASE_URL=" + tc.value}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%s: got %v, want exit status 1", tc.value, err)
		}
		if got := stderr.String(); got != tc.want {
			t.Errorf("%s: stderr\n got %q\nwant %q", tc.value, got, tc.want)
		}
	}
}

// A PostgreSQL that is down when the API starts: the API serves its
// public endpoints, answers 503 with Retry-After for messages, says in
// /readyz what is missing, never logs the password, and works by itself
// once the database is reachable.
func TestBinaryStartsWhileDatabaseIsDown(t *testing.T) {
	dbURL := postgrestest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := postgrestest.NewProxy(t, u.Host)
	u.Host = proxy.Addr
	password, ok := u.User.Password()
	if !ok || password == "" {
		u.User = url.UserPassword(u.User.Username(), "not-the-password-but-never-logged")
		password = "not-the-password-but-never-logged"
	}

	iss := jwtverifytest.NewIssuer(t)
	token := iss.Token(iss.Claims("auth0|alice", "read:messages", "write:messages"))
	cmd, logs := startBinary(t, "ISSUER_BASE_URL="+iss.URL, "AUDIENCE="+jwtverifytest.Audience, "ADDR=127.0.0.1:0", "DATABASE_URL="+u.String())
	base := logs.baseURL(t)
	logs.waitFor(t, "database not reachable yet")
	if resp, _ := call(t, base+"/api/public", ""); resp.StatusCode != 200 {
		t.Errorf("/api/public: got %d, want 200", resp.StatusCode)
	}
	want := `{"error":"temporarily_unavailable","error_description":"not available: the database; retry shortly"}` + "\n"
	for _, path := range []string{"/api/messages", "/readyz"} {
		resp, body := call(t, base+path, token)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || body != want {
			t.Errorf("GET %s: got %d (Retry-After %q) %s, want 503 with Retry-After and %s", path, resp.StatusCode, resp.Header.Get("Retry-After"), body, want)
		}
	}
	if status, _, err := postMessage(base, token, "hello"); status != 503 || err != nil {
		t.Errorf("POST: got %d, %v; want 503", status, err)
	}

	proxy.Up(t)
	waitStatus(t, base+"/readyz", 200)
	id := mustPost(t, base, token, "hello once it is up")
	if !ids(listAll(t, base, token))[id] {
		t.Errorf("the message is not listed")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if strings.Contains(logs.String(), password) {
		t.Errorf("the log contains the database password:\n%s", logs.String())
	}
}

// Two instances on one PostgreSQL database are one service: what is
// posted on one is listed and deleted on the other, and the quota holds
// across them.
func TestTwoInstancesOnOnePostgres(t *testing.T) {
	dbURL := postgrestest.URL(t)
	iss := jwtverifytest.NewIssuer(t)
	env := []string{"ISSUER_BASE_URL=" + iss.URL, "AUDIENCE=" + jwtverifytest.Audience, "ADDR=127.0.0.1:0", "DATABASE_URL=" + dbURL, "MESSAGES_PER_USER=3"}
	_, logsA := startBinary(t, append(env, "DATABASE_MAX_CONNS=3", "METRICS_ADDR=127.0.0.1:0")...)
	_, logsB := startBinary(t, env...)
	a, b := logsA.baseURL(t), logsB.baseURL(t)
	waitStatus(t, a+"/readyz", 200)
	waitStatus(t, b+"/readyz", 200)
	for _, tc := range []struct {
		logs *logBuffer
		want string
	}{
		{logsA, `"msg":"database pool",`},
		{logsA, `"max_conns":3,"from":"DATABASE_MAX_CONNS"}`},
		{logsB, `"from":"default"}`},
	} {
		if !strings.Contains(tc.logs.String(), tc.want) {
			t.Errorf("the log does not say %s:\n%s", tc.want, tc.logs.String())
		}
	}
	alice := iss.Token(iss.Claims("auth0|alice", "read:messages", "write:messages"))

	id := mustPost(t, a, alice, "posted on A")
	if !ids(listAll(t, b, alice))[id] {
		t.Fatalf("posted on A, not listed on B")
	}
	if status := deleteMessage(t, b, alice, id); status != 204 {
		t.Fatalf("deleting on B: got %d, want 204", status)
	}
	if ids(listAll(t, a, alice))[id] {
		t.Errorf("deleted on B, still listed on A")
	}
	// A's pool, on its /metrics.
	_, metrics := call(t, "http://"+logsA.addr(t, `"msg":"metrics listening"`)+"/metrics", "")
	for _, want := range []string{"db_pool_max_connections 3\n", `db_pool_connections{state="acquired"} `, "db_pool_acquires_total ", "db_owner_gate_waiting 0\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("A's /metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, "db_pool_acquires_total 0\n") {
		t.Errorf("A's /metrics counts no pool acquisition after a post and a list")
	}

	// At 2 of 3, posts racing on both instances: exactly one fits.
	mustPost(t, a, alice, "one")
	mustPost(t, b, alice, "two")
	statuses := make([]int, 10)
	var wg sync.WaitGroup
	for i := range statuses {
		base := []string{a, b}[i%2]
		wg.Go(func() {
			status, _, err := postMessage(base, alice, fmt.Sprint("race ", i))
			if err != nil {
				t.Errorf("post %d: %v", i, err)
			}
			statuses[i] = status
		})
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 429:
		default:
			t.Errorf("a racing post got %d, want 201 or 429", s)
		}
	}
	if created != 1 {
		t.Errorf("%d racing posts at 2/3 succeeded across two instances (%v), want 1", created, statuses)
	}
}

// The attack of issue 9: with two issuers trusted, a token from the
// second whose sub equals a user's sub at the first must not delete that
// user's message.
func TestBinaryOwnershipIsIssuerAndSubject(t *testing.T) {
	one, two := jwtverifytest.NewIssuer(t), jwtverifytest.NewIssuer(t)
	_, logs := startBinary(t, "ISSUER_BASE_URL="+one.URL+","+two.URL, "AUDIENCE="+jwtverifytest.Audience, "ADDR=127.0.0.1:0")
	base := logs.baseURL(t)
	waitStatus(t, base+"/readyz", 200)
	alice := one.Token(one.Claims("auth0|alice", "read:messages", "write:messages"))
	impostor := two.Token(two.Claims("auth0|alice", "read:messages", "write:messages"))

	id := mustPost(t, base, alice, "alice's, at issuer one")
	msgs := listAll(t, base, impostor)
	if len(msgs) != 1 || msgs[0].Author != "auth0|alice" || msgs[0].AuthorIssuer != one.URL {
		t.Fatalf("listed: got %+v, want alice's message with author_issuer %s", msgs, one.URL)
	}
	req, err := http.NewRequest("DELETE", base+"/api/messages/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+impostor)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantChallenge := `Bearer realm="api", error="insufficient_scope", error_description="only the author, or a caller with delete:messages, may delete a message", scope="delete:messages", resource_metadata="` + base + `/.well-known/oauth-protected-resource"`
	if resp.StatusCode != 403 || resp.Header.Get("WWW-Authenticate") != wantChallenge {
		t.Errorf("the same sub from issuer two deleting: got %d %q %s, want 403 with %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, wantChallenge)
	}
	if !ids(listAll(t, base, alice))[id] {
		t.Fatalf("the message is gone after the refused delete")
	}
	if status := deleteMessage(t, base, alice, id); status != 204 {
		t.Errorf("alice at issuer one deleting hers: got %d, want 204", status)
	}
}
