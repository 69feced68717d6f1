package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
)

// logBuffer collects a server's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits until a log line contains want and returns the line.
func (l *logBuffer) waitFor(t *testing.T, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(l.String()))
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("log line with %q is not JSON: %v: %s", want, err, sc.Text())
				}
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line with %q; log:\n%s", want, l.String())
	return nil
}

// baseURL returns the address from the "listening" log line.
func (l *logBuffer) baseURL(t *testing.T) string {
	t.Helper()
	return "http://" + l.addr(t, `"msg":"listening"`)
}

// addr returns the "addr" of the first log line containing want.
func (l *logBuffer) addr(t *testing.T, want string) string {
	t.Helper()
	line := l.waitFor(t, want)
	addr, ok := line["addr"].(string)
	if !ok || addr == "" {
		t.Fatalf("log line with %q has no addr: %v", want, line)
	}
	return addr
}

func call(t *testing.T, url, token string) (*http.Response, string) {
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
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp, string(body)
}

// waitStatus polls url until it answers want.
func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered %d", url, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{
			"ISSUER_BASE_URL": iss.URL, "AUDIENCE": jwtverifytest.Audience, "ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0",
		}), io.Discard, logs)
	}()
	base := logs.baseURL(t)
	waitStatus(t, base+"/readyz", 200)
	// go test stamps no revision (TestVersionOfBuiltBinary has go build's).
	if line := logs.waitFor(t, `"msg":"listening"`); line["version"] != "(devel)" || line["revision"] != "unknown" {
		t.Errorf("listening line: version %v, revision %v; want (devel), unknown", line["version"], line["revision"])
	}

	tok := iss.Token(iss.Claims("auth0|alice"))
	for range 3 {
		if resp, body := call(t, base+"/api/private", tok); resp.StatusCode != 200 {
			t.Errorf("valid token: got %d %s", resp.StatusCode, body)
		}
	}
	if resp, _ := call(t, base+"/api/private", ""); resp.StatusCode != 401 {
		t.Errorf("no token: got %d", resp.StatusCode)
	}
	if resp, _ := call(t, base+"/api/private", tok+"xx"); resp.StatusCode != 401 {
		t.Errorf("bad signature: got %d", resp.StatusCode)
	}

	// /metrics is served on its own address, with every outcome by reason.
	metricsURL := "http://" + logs.addr(t, `"msg":"metrics listening"`) + "/metrics"
	if resp, _ := call(t, base+"/metrics", ""); resp.StatusCode != 404 {
		t.Errorf("/metrics on the API address: got %d, want 404", resp.StatusCode)
	}
	_, metrics := call(t, metricsURL, "")
	for _, want := range []string{
		`auth_outcomes_total{outcome="ok"} 3`,
		`auth_outcomes_total{outcome="missing"} 1`,
		`auth_outcomes_total{outcome="bad_signature"} 1`,
		`auth_outcomes_total{outcome="expired"} 0`,
		`http_requests_total{method="GET",route="/api/private",status="200"} 3`,
		`http_request_duration_seconds_count{method="GET",route="/api/private",status="401"} 2`,
		`jwks_fetches_total{result="ok"} 1`,
		`jwks_keys 1`,
		`token_cache_hits_total 2`,
		`token_cache_misses_total 2`,
		`token_cache_entries 1`,
		`log_lines_dropped_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !regexp.MustCompile(`jwks_age_seconds \d`).MatchString(metrics) {
		t.Errorf("/metrics lacks a finite jwks_age_seconds")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: got %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	logs.waitFor(t, "shutting down")
	if strings.Contains(logs.String(), iss.Token(iss.Claims("auth0|alice"))[:40]) {
		t.Errorf("log contains token material")
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/api once for the tests that run it as users do.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "api-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "api")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building cmd/api: %v", buildErr)
	}
	return binPath
}

// startBinary runs the built command with exactly env, until the test ends.
func startBinary(t *testing.T, env ...string) (*exec.Cmd, *logBuffer) {
	t.Helper()
	cmd := exec.Command(binary(t))
	// Later entries win: memory unless the test says otherwise.
	cmd.Env = append(append([]string{"DATABASE_URL=memory:"}, env...), "METRICS_ADDR=127.0.0.1:0")
	logs := &logBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, logs
}

func TestBinaryStartsWhileIssuerIsDown(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	iss.SetDown(true)
	cmd, logs := startBinary(t, "ISSUER_BASE_URL="+iss.URL, "AUDIENCE="+jwtverifytest.Audience, "ADDR=127.0.0.1:0")
	base := logs.baseURL(t)

	if resp, _ := call(t, base+"/api/public", ""); resp.StatusCode != 200 {
		t.Errorf("/api/public while issuer down: got %d, want 200", resp.StatusCode)
	}
	if resp, _ := call(t, base+"/readyz", ""); resp.StatusCode != 503 {
		t.Errorf("/readyz while issuer down: got %d, want 503", resp.StatusCode)
	}
	resp, body := call(t, base+"/api/private", iss.Token(iss.Claims("auth0|alice")))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("valid token while keys unavailable: got %d (Retry-After %q) %s, want 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, _ := call(t, base+"/api/private", "invalidToken"); resp.StatusCode != 401 {
		t.Errorf("garbage while keys unavailable: got %d, want 401", resp.StatusCode)
	}

	iss.SetDown(false)
	waitStatus(t, base+"/readyz", 200)
	if resp, body := call(t, base+"/api/private", iss.Token(iss.Claims("auth0|alice"))); resp.StatusCode != 200 {
		t.Errorf("valid token once the issuer is back: got %d %s", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: got %v, want status 0", err)
	}
}

func TestBinaryTrustsSSLCertFile(t *testing.T) {
	iss := jwtverifytest.NewTLSIssuer(t)
	certFile := filepath.Join(t.TempDir(), "issuer-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.Server.Certificate().Raw})
	if err := os.WriteFile(certFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	token := iss.Token(iss.Claims("auth0|alice"))
	common := []string{"ISSUER_BASE_URL=" + iss.URL, "AUDIENCE=" + jwtverifytest.Audience, "ADDR=127.0.0.1:0"}

	t.Run("without it the private CA is not trusted", func(t *testing.T) {
		_, logs := startBinary(t, append(common, "SSL_CERT_FILE="+filepath.Join(t.TempDir(), "empty.pem"))...)
		base := logs.baseURL(t)
		logs.waitFor(t, "certificate")
		if resp, _ := call(t, base+"/readyz", ""); resp.StatusCode != 503 {
			t.Errorf("/readyz: got %d, want 503", resp.StatusCode)
		}
	})
	t.Run("with it the issuer is trusted", func(t *testing.T) {
		_, logs := startBinary(t, append(common, "SSL_CERT_FILE="+certFile)...)
		base := logs.baseURL(t)
		waitStatus(t, base+"/readyz", 200)
		if resp, body := call(t, base+"/api/private", token); resp.StatusCode != 200 {
			t.Errorf("valid token: got %d %s", resp.StatusCode, body)
		}
	})
}

func TestBinaryRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"no audience", []string{"ISSUER_BASE_URL=https://tenant.auth0.com/"},
			"api: AUDIENCE is required: set it to your API's identifier (Auth0 dashboard > APIs), e.g. https://api.example.com\n"},
		{"first run: nothing set", nil,
			"api: ISSUER_BASE_URL (or AUTH0_DOMAIN) is required: set it to your token issuer, e.g. https://TENANT.auth0.com/; " +
				"to try it locally without an issuer run: go run ./cmd/api -dev\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary(t))
			cmd.Env = tc.env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("got %v, want exit status 1", err)
			}
			if got := stderr.String(); got != tc.want {
				t.Errorf("stderr: got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The fake verifier and test helpers must never be linked into the binary.
func TestTestCodeNotLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := string(out)
	if !strings.Contains(deps, "github.com/example/spaapi/adapters/auth0\n") {
		t.Fatalf("go list -deps looks wrong (no auth0 adapter):\n%s", deps)
	}
	for _, pkg := range []string{"adapters/fake", "jwtverifytest", "verifiertest", "messagestest", "postgrestest", "redistest", "servicetest", "tlstest"} {
		if strings.Contains(deps, pkg) {
			t.Errorf("cmd/api links %s", pkg)
		}
	}
}

func TestDevModeAndTokenCommand(t *testing.T) {
	dir := t.TempDir()
	base, logs, stop := runDev(t, env(map[string]string{}),
		"-dev-dir", dir, "-addr", "127.0.0.1:0", "-dev-issuer-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0")
	issuerAddr := devIssuerAddr(t, logs)
	if !strings.Contains(logs.String(), "DEVELOPMENT MODE") {
		t.Fatalf("no development banner:\n%s", logs.String())
	}
	waitStatus(t, base+"/readyz", 200)

	token := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"token", "-dev-dir", dir, "-dev-issuer-addr", issuerAddr}, args...),
			env(map[string]string{}), &stdout, &stderr)
		if err != nil {
			t.Fatalf("token %v: %v (%s)", args, err, stderr.String())
		}
		out := stdout.String()
		if strings.Count(out, "\n") != 1 || strings.Count(out, ".") != 2 || stderr.Len() != 0 {
			t.Fatalf("token %v: stdout %q stderr %q, want one JWT line and nothing else", args, out, stderr.String())
		}
		return strings.TrimSpace(out)
	}
	if resp, body := call(t, base+"/api/private-scoped", token("-scope", "read:messages")); resp.StatusCode != 200 {
		t.Errorf("token with read:messages on /api/private-scoped: got %d %s", resp.StatusCode, body)
	}
	if resp, _ := call(t, base+"/api/private-scoped", token()); resp.StatusCode != 403 {
		t.Errorf("token without scope on /api/private-scoped: got %d, want 403", resp.StatusCode)
	}
	if _, body := call(t, base+"/api/me", token("-sub", "bob")); !strings.Contains(body, `"subject":"dev|bob"`) {
		t.Errorf("-sub bob: /api/me says %s", body)
	}
	if _, body := call(t, base+"/api/me", token("-sub", "someone-else")); !strings.Contains(body, `"subject":"someone-else"`) {
		t.Errorf("-sub someone-else: /api/me says %s", body)
	}

	// Rotation while the server runs: old tokens keep working, and tokens
	// from the new key are accepted within 10 seconds.
	old := token("-scope", "read:messages")
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"rotate-dev-keys", "-dev-dir", dir}, env(nil), io.Discard, &stderr); err != nil {
		t.Fatalf("rotate-dev-keys: %v", err)
	}
	fresh := token("-scope", "read:messages")
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := call(t, base+"/api/private-scoped", fresh)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token from the rotated-in key still refused after 10s: %d", resp.StatusCode)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if resp, _ := call(t, base+"/api/private-scoped", old); resp.StatusCode != 200 {
		t.Errorf("token from the rotated-out key: got %d, want 200", resp.StatusCode)
	}

	stop()
}

func TestDevModeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"issuer set too", []string{"-dev"}, map[string]string{"ISSUER_BASE_URL": "https://t.auth0.com/"}, "ISSUER_BASE_URL is set, but -dev runs its own issuer"},
		{"auth0 domain set too", []string{"-dev"}, map[string]string{"AUTH0_DOMAIN": "t.auth0.com"}, "AUTH0_DOMAIN is set, but -dev runs its own issuer"},
		{"JWKS URI set too", []string{"-dev"}, map[string]string{"JWKS_URI": "https://t.auth0.com/.well-known/jwks.json"}, "JWKS_URI is set, but -dev runs its own issuer"},
		{"API on every interface", []string{"-dev", "-addr", "0.0.0.0:8080"}, nil, "-addr: \"0.0.0.0:8080\": with -dev the API listens on loopback only"},
		{"API port without host is fine", []string{"-dev", "-port", "9999"}, nil, ""},
		{"issuer on every interface", []string{"-dev", "-dev-issuer-addr", ":8081"}, nil, "DEV_ISSUER_ADDR: \":8081\": the development issuer listens on loopback only"},
		{"issuer on a LAN address", []string{"-dev", "-dev-issuer-addr", "192.168.1.5:8081"}, nil, "loopback only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{"HOME": t.TempDir()}
			for k, v := range tc.env {
				e[k] = v
			}
			c, err := loadConfig(tc.args, env(e), io.Discard)
			if tc.want == "" {
				if err != nil || c.addr != "127.0.0.1:9999" {
					t.Errorf("got %q, %v; want 127.0.0.1:9999", c.addr, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBusyDefaultMetricsPortDoesNotStopTheAPI(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	for _, tc := range []struct {
		name, metrics string
		starts        bool
	}{
		{"default address taken: the API runs without metrics", "", true},
		{"chosen address taken: start-up stops", "127.0.0.1:%s", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Take the default metrics address; if something else already
			// holds it, it is just as taken.
			if busy, err := net.Listen("tcp", "127.0.0.1:9090"); err == nil {
				defer busy.Close()
			}
			e := map[string]string{"ISSUER_BASE_URL": iss.URL, "AUDIENCE": jwtverifytest.Audience, "ADDR": "127.0.0.1:0"}
			if tc.metrics != "" {
				e["METRICS_ADDR"] = "127.0.0.1:9090"
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			logs := &logBuffer{}
			done := make(chan error, 1)
			go func() { done <- run(ctx, nil, env(e), io.Discard, logs) }()
			if !tc.starts {
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
						t.Errorf("got %v, want an error naming METRICS_ADDR", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("run did not stop")
				}
				return
			}
			base := logs.baseURL(t)
			if resp, _ := call(t, base+"/api/public", ""); resp.StatusCode != 200 {
				t.Errorf("/api/public: got %d", resp.StatusCode)
			}
			logs.waitFor(t, "no /metrics")
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run after cancel: got %v, want nil", err)
			}
		})
	}
}

// runDev runs the API in development mode in this process, with args after
// -dev and the environment getenv, as runAPI does.
func runDev(t *testing.T, getenv func(string) string, args ...string) (base string, logs *logBuffer, stop func()) {
	t.Helper()
	return runAPI(t, getenv, append([]string{"-dev"}, args...)...)
}

// runAPI runs the API in this process with args and the environment
// getenv, until stop, which reports an unclean end. It waits for the API's
// address and returns its base URL and log.
func runAPI(t *testing.T, getenv func(string) string, args ...string) (base string, logs *logBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &logBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, getenv, io.Discard, logs) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return logs.baseURL(t), logs, stop
}

// devIssuerAddr returns the loopback address of the development issuer
// the banner in logs names.
func devIssuerAddr(t *testing.T, logs *logBuffer) string {
	t.Helper()
	banner := regexp.MustCompile(`issuer\s+http://localhost:(\d+)/`).FindStringSubmatch(logs.String())
	if banner == nil {
		t.Fatalf("no development banner with the issuer:\n%s", logs.String())
	}
	return "127.0.0.1:" + banner[1]
}
