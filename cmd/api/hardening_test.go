package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
)

func TestDefaultMaxConns(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{0, 10_000}, // unknown limit
		{1, 1},
		{256, 192},
		{1024, 768},
		{20_000, 10_000},
		{1 << 20, 10_000},
	} {
		if got := defaultMaxConns(tc.nofile); got != tc.want {
			t.Errorf("defaultMaxConns(%d): got %d, want %d", tc.nofile, got, tc.want)
		}
	}
}

func TestMaxConnsSetting(t *testing.T) {
	// A memory limit that leaves room for every connection the open-file
	// limit allows (memory_test.go tests the plan's own cap).
	base := map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "MEMORY_LIMIT": "64GiB"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	nofile := openFileLimit()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want int
		err  string
	}{
		{"default", with(), nil, defaultMaxConns(nofile), ""},
		{"set", with("MAX_CONNS", "100"), nil, 100, ""},
		{"flag wins", with("MAX_CONNS", "100"), []string{"-max-conns", "7"}, 7, ""},
		{"zero", with("MAX_CONNS", "0"), nil, 0, `MAX_CONNS: "0" is not a positive number of connections`},
		{"not a number", with("MAX_CONNS", "lots"), nil, 0, `MAX_CONNS: "lots" is not a positive number of connections`},
		{"beyond the open-file limit", with("MAX_CONNS", fmt.Sprint(nofile)), nil, 0, fmt.Sprintf("MAX_CONNS: %d does not fit the open-file limit of %d", nofile, nofile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if nofile == 0 && strings.Contains(tc.err, "open-file") {
				t.Skip("no open-file limit on this system")
			}
			c, err := loadConfig(tc.args, env(tc.env), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Errorf("got %v, want an error starting %q", err, tc.err)
				}
				return
			}
			if err != nil || c.maxConns != tc.want {
				t.Errorf("got %d, %v; want %d", c.maxConns, err, tc.want)
			}
		})
	}
}

// Under -dev everything listens on loopback, and loopback names are
// resolved here, never by DNS.
func TestDevListenAddresses(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		args                  []string
		addr, metrics, issuer string
		err                   string
	}{
		{"defaults", []string{"-dev"}, "127.0.0.1:8080", "127.0.0.1:9090", "127.0.0.1:8081", ""},
		{"names under .localhost", []string{"-dev", "-addr", "api.localhost:8080", "-metrics-addr", "Metrics.LOCALHOST:9090", "-dev-issuer-addr", "x.localhost:8081"},
			"127.0.0.1:8080", "127.0.0.1:9090", "127.0.0.1:8081", ""},
		{"localhost and IPv6 loopback", []string{"-dev", "-addr", "localhost:1", "-metrics-addr", "[::1]:2", "-dev-issuer-addr", "127.0.0.2:3"},
			"127.0.0.1:1", "[::1]:2", "127.0.0.2:3", ""},
		{"metrics on every interface", []string{"-dev", "-metrics-addr", "0.0.0.0:9090"}, "", "", "", `-metrics-addr: "0.0.0.0:9090": with -dev /metrics listens on loopback only`},
		{"metrics without a host", []string{"-dev", "-metrics-addr", ":9090"}, "", "", "", `-metrics-addr: ":9090": with -dev /metrics listens on loopback only`},
		{"metrics on a name that only looks local", []string{"-dev", "-metrics-addr", "localhost.example.com:9090"}, "", "", "", "-metrics-addr: "},
		{"issuer on a LAN name", []string{"-dev", "-dev-issuer-addr", "devbox.lan:8081"}, "", "", "", "DEV_ISSUER_ADDR: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.args, env(map[string]string{"HOME": t.TempDir()}), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Errorf("got %v, want an error starting %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.addr != tc.addr || c.metricsAddr != tc.metrics || c.dev.issuerAddr != tc.issuer {
				t.Errorf("got addr %q metrics %q issuer %q, want %q %q %q", c.addr, c.metricsAddr, c.dev.issuerAddr, tc.addr, tc.metrics, tc.issuer)
			}
		})
	}
	// Outside -dev, /metrics may listen anywhere.
	c, err := loadConfig([]string{"-metrics-addr", "0.0.0.0:9090"}, env(map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a"}), io.Discard)
	if err != nil || c.metricsAddr != "0.0.0.0:9090" {
		t.Errorf("without -dev: got %q, %v; want 0.0.0.0:9090", c.metricsAddr, err)
	}
}

// DEV_ISSUER_ADDR=x.localhost:PORT starts: Go's resolver would ask DNS for
// that name (and fail offline), so the name must never reach it.
func TestDevIssuerOnALocalhostName(t *testing.T) {
	base, logs, stop := runDev(t, env(map[string]string{}),
		"-dev-dir", t.TempDir(), "-addr", "api.localhost:0", "-dev-issuer-addr", "issuer.localhost:0", "-metrics-addr", "off")
	m := regexp.MustCompile(`issuer\s+(http://localhost:\d+/)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no issuer in the banner:\n%s", logs.String())
	}
	resp, err := http.Get(strings.Replace(m[1], "localhost", "127.0.0.1", 1) + ".well-known/openid-configuration")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("issuer: got %v, %v", resp, err)
	}
	resp.Body.Close()
	waitStatus(t, base+"/readyz", 200)
	stop()
}

// MAX_CONNS reaches the API's listener: at the cap with no idle
// connection a new client gets a 503 at once, and /metrics says so.
func TestMaxConnsCapsTheAPI(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{"ISSUER_BASE_URL": iss.URL, "AUDIENCE": jwtverifytest.Audience,
			"ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "MAX_CONNS": "3", "MAX_CONNS_PER_CLIENT": "off"}), io.Discard, logs)
	}()
	base := logs.baseURL(t)
	if got, ok := logs.waitFor(t, `"msg":"listening"`)["max_conns"].(float64); !ok || got != 3 {
		t.Errorf("listening line: max_conns got %v, want 3", got)
	}
	metricsURL := "http://" + logs.addr(t, `"msg":"metrics listening"`) + "/metrics"
	addr := strings.TrimPrefix(base, "http://")
	var silent []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("fourth connection: got %v, %v; want 503 at once", resp, err)
	}
	_, metrics := call(t, metricsURL, "")
	for _, want := range []string{"http_connections_max 3", "http_connections_open 3", "http_connections_refused_total 1"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	logs.waitFor(t, "connection limit reached")
	for _, c := range silent {
		c.Close() // else shutdown waits for them
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

// MAX_CONNS_PER_CLIENT reaches the API's listener: a client at its share
// gets a 429 at once while another address still gets in, and /metrics
// and the log say so.
func TestMaxConnsPerClientCapsOneClient(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	base, logs, stop := runAPI(t, env(map[string]string{"ISSUER_BASE_URL": iss.URL, "AUDIENCE": jwtverifytest.Audience,
		"ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "MAX_CONNS": "8", "MAX_CONNS_PER_CLIENT": "2"}))
	if got, ok := logs.waitFor(t, `"msg":"listening"`)["max_conns_per_client"].(float64); !ok || got != 2 {
		t.Errorf("listening line: max_conns_per_client got %v, want 2", got)
	}
	metricsURL := "http://" + logs.addr(t, `"msg":"metrics listening"`) + "/metrics"
	addr := strings.TrimPrefix(base, "http://")
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close() // else shutdown waits for them
		}
		stop()
	}()
	dialFrom := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	dialFrom("127.0.0.5")
	dialFrom("127.0.0.5")
	resp, err := http.ReadResponse(bufio.NewReader(dialFrom("127.0.0.5")), nil)
	if err != nil || resp.StatusCode != 429 {
		t.Fatalf("third connection from one address: got %v, %v; want 429 at once", resp, err)
	}
	other := dialFrom("127.0.0.6")
	if _, err := io.WriteString(other, "GET /api/public HTTP/1.1\r\nHost: api\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(bufio.NewReader(other), nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("another address: got %v, %v; want 200", resp, err)
	}
	_, metrics := call(t, metricsURL, "")
	if !strings.Contains(metrics, "http_connections_client_refused_total 1\n") {
		t.Errorf("/metrics lacks http_connections_client_refused_total 1")
	}
	logs.waitFor(t, "a client reached its share of the connections")
}

// MAX_CONNS_PER_CLIENT: a quarter of MAX_CONNS by default, at most 512;
// off; a number, no more than MAX_CONNS gives; anything else stops
// start-up naming it.
func TestMaxConnsPerClientSetting(t *testing.T) {
	base := map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "a", "MEMORY_LIMIT": "64GiB"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want int
		err  string
	}{
		{"default: a quarter", map[string]string{"MAX_CONNS": "100"}, nil, 25, ""},
		{"default: at most 512", map[string]string{"MAX_CONNS": "4000"}, nil, 512, ""},
		{"default: at least 1", map[string]string{"MAX_CONNS": "3"}, nil, 1, ""},
		{"set", map[string]string{"MAX_CONNS": "100", "MAX_CONNS_PER_CLIENT": "40"}, nil, 40, ""},
		{"flag wins", map[string]string{"MAX_CONNS": "100", "MAX_CONNS_PER_CLIENT": "40"}, []string{"-max-conns-per-client", "7"}, 7, ""},
		{"more than MAX_CONNS: MAX_CONNS", map[string]string{"MAX_CONNS": "100", "MAX_CONNS_PER_CLIENT": "1000"}, nil, 100, ""},
		{"off", map[string]string{"MAX_CONNS": "100", "MAX_CONNS_PER_CLIENT": "off"}, nil, 0, ""},
		{"zero", map[string]string{"MAX_CONNS_PER_CLIENT": "0"}, nil, 0, `MAX_CONNS_PER_CLIENT: "0" is neither a positive number of connections nor off`},
		{"not a number", map[string]string{"MAX_CONNS_PER_CLIENT": "many"}, nil, 0, `MAX_CONNS_PER_CLIENT: "many" is neither a positive number of connections nor off`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range base {
				e[k] = v
			}
			for k, v := range tc.env {
				e[k] = v
			}
			c, err := loadConfig(tc.args, env(e), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Errorf("got %v, want an error starting %q", err, tc.err)
				}
				return
			}
			if err != nil || c.perClientConns != tc.want {
				t.Errorf("got %d, %v; want %d", c.perClientConns, err, tc.want)
			}
		})
	}
}

func TestTokenCommandRefusesStrayArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "bob"}, `token: unexpected argument "bob"; flags only, e.g. api token -sub bob -scope read:messages`},
		{[]string{"token", "-scope", "read:messages", "bob"}, `token: unexpected argument "bob"`},
		{[]string{"token", "-sub", ""}, "token: -sub is empty"},
		{[]string{"token", "-sub", "  "}, "token: -sub is empty"},
		{[]string{"rotate-dev-keys", "now"}, `rotate-dev-keys: unexpected argument "now"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), tc.args, env(map[string]string{"DEV_DIR": dir}), &stdout, io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("printed %q, want nothing", stdout.String())
			}
		})
	}
	// With flags only, it works.
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"token", "-sub", "bob"}, env(map[string]string{"DEV_DIR": dir}), &stdout, io.Discard); err != nil || strings.Count(stdout.String(), ".") != 2 {
		t.Errorf("token -sub bob: got %q, %v", stdout.String(), err)
	}
}
