package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/httpapi/tlstest"
)

// The TLS and shutdown settings: both files or neither, HSTS only with
// TLS and within range, the shutdown's durations within range.
func TestTLSAndShutdownSettings(t *testing.T) {
	base := map[string]string{"ISSUER_BASE_URL": "https://tenant.auth0.com/", "AUDIENCE": "https://api.example.com"}
	with := func(kv ...string) func(string) string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return env(m)
	}
	dir := t.TempDir()
	caFile, notPEM := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "not.pem")
	tlstest.WriteFile(t, caFile, tlstest.NewCA(t, "client CA").PEM)
	tlstest.WriteFile(t, notPEM, []byte("not a certificate\n"))
	for _, c := range []struct {
		name string
		env  func(string) string
		want string
	}{
		{"a certificate without its key", with("TLS_CERT_FILE", "/c.pem"), "TLS_CERT_FILE is set but TLS_KEY_FILE is not: set both (the certificate and its key) or neither"},
		{"a key without its certificate", with("TLS_KEY_FILE", "/k.pem"), "TLS_KEY_FILE is set but TLS_CERT_FILE is not: set both (the certificate and its key) or neither"},
		{"HSTS over plain HTTP", with("HSTS_MAX_AGE", "3600"), "HSTS_MAX_AGE is set, but the API serves plain HTTP (no TLS_CERT_FILE and TLS_KEY_FILE): Strict-Transport-Security goes on HTTPS answers only; behind a proxy that terminates TLS, set it there"},
		{"HSTS not a duration", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "HSTS_MAX_AGE", "1y"), `HSTS_MAX_AGE: "1y" is not a duration like 5s or a number of seconds`},
		{"HSTS negative", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "HSTS_MAX_AGE", "-1h"), "HSTS_MAX_AGE: -1h0m0s is out of range (0s to 17520h0m0s)"},
		{"HSTS in milliseconds", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "HSTS_MAX_AGE", "31536000000"), "HSTS_MAX_AGE: \"31536000000\" is not a duration like 5s or a number of seconds"},
		{"HSTS over two years", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "HSTS_MAX_AGE", "63072001"), "HSTS_MAX_AGE: 17520h0m1s is out of range (0s to 17520h0m0s)"},
		{"client certificates over plain HTTP", with("TLS_CLIENT_CERTS", "request"), "TLS_CLIENT_CERTS is set, but the API serves plain HTTP (no TLS_CERT_FILE): client certificates come in a TLS handshake; behind a proxy that terminates TLS, have it pass them in Client-Cert (RFC 9440) and list it in TRUSTED_PROXIES"},
		{"client CAs over plain HTTP", with("TLS_CLIENT_CA_FILE", caFile), "TLS_CLIENT_CA_FILE is set, but the API serves plain HTTP (no TLS_CERT_FILE): client certificates come in a TLS handshake; behind a proxy that terminates TLS, have it pass them in Client-Cert (RFC 9440) and list it in TRUSTED_PROXIES"},
		{"client certificates required", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "TLS_CLIENT_CERTS", "require"), `TLS_CLIENT_CERTS: "require" is not one of "off", "request"`},
		{"client CAs with client certificates off", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "TLS_CLIENT_CERTS", "off", "TLS_CLIENT_CA_FILE", caFile), "TLS_CLIENT_CA_FILE is set but TLS_CLIENT_CERTS is off: unset one of them"},
		{"client CA file missing", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "TLS_CLIENT_CA_FILE", "/nonexistent/ca.pem"), "TLS_CLIENT_CA_FILE: open /nonexistent/ca.pem: no such file or directory"},
		{"client CA file without a certificate", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "TLS_CLIENT_CA_FILE", notPEM), "TLS_CLIENT_CA_FILE: " + notPEM + " holds no PEM-encoded certificate"},
		{"a certificate header without proxies", with("CLIENT_CERT_HEADER", "X-SSL-Client-Cert"), "CLIENT_CERT_HEADER is set, but TRUSTED_PROXIES is not: the header is read only from trusted proxies"},
		{"a certificate header that is no name", with("CLIENT_CERT_HEADER", "X SSL", "TRUSTED_PROXIES", "10.0.0.0/8"), `CLIENT_CERT_HEADER: "X SSL" is not a header name`},
		{"a delay of -1s", with("SHUTDOWN_DELAY", "-1s"), "SHUTDOWN_DELAY: -1s is out of range (0s to 5m0s)"},
		{"a delay of an hour", with("SHUTDOWN_DELAY", "1h"), "SHUTDOWN_DELAY: 1h0m0s is out of range (0s to 5m0s)"},
		{"a delay of soon", with("SHUTDOWN_DELAY", "soon"), `SHUTDOWN_DELAY: "soon" is not a duration like 5s or a number of seconds`},
		{"a timeout of 0", with("SHUTDOWN_TIMEOUT", "0"), "SHUTDOWN_TIMEOUT: 0s is out of range (1s to 10m0s)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadConfig(nil, c.env, io.Discard)
			if err == nil || err.Error() != c.want {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}

	for _, c := range []struct {
		name                      string
		env                       func(string) string
		hsts, delay, timeout      time.Duration
		hstsSet                   bool
		certFile, keyFile, scheme string
	}{
		{"defaults", with(), 0, 0, 10 * time.Second, false, "", "", "http"},
		{"TLS and HSTS in seconds", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "HSTS_MAX_AGE", "31536000"), 365 * 24 * time.Hour, 0, 10 * time.Second, true, "/c.pem", "/k.pem", "https"},
		{"HSTS 0 (forget)", with("TLS_CERT_FILE", "/c.pem", "TLS_KEY_FILE", "/k.pem", "HSTS_MAX_AGE", "0"), 0, 0, 10 * time.Second, true, "/c.pem", "/k.pem", "https"},
		{"a delay and a timeout", with("SHUTDOWN_DELAY", "5s", "SHUTDOWN_TIMEOUT", "30"), 0, 5 * time.Second, 30 * time.Second, false, "", "", "http"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(nil, c.env, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.tls.certFile != c.certFile || cfg.tls.keyFile != c.keyFile || cfg.tls.hsts != c.hsts || cfg.tls.hstsSet != c.hstsSet ||
				cfg.tls.scheme() != c.scheme || cfg.shutdown.delay != c.delay || cfg.shutdown.timeout != c.timeout {
				t.Errorf("got %+v %+v", cfg.tls, cfg.shutdown)
			}
		})
	}
}

// A pair that cannot be served stops start-up with the variable of the
// file at fault.
func TestBinaryRefusesABadCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "refusal CA")
	dir := t.TempDir()
	p, other := ca.Issue(t, tlstest.Options{}), ca.Issue(t, tlstest.Options{})
	certFile, keyFile := p.Write(t, dir)
	otherKey := filepath.Join(dir, "other-key.pem")
	tlstest.WriteFile(t, otherKey, other.KeyPEM)
	missing := filepath.Join(dir, "missing.pem")
	for _, c := range []struct {
		name, cert, key, want string
	}{
		{"no certificate file", missing, keyFile, "api: TLS_CERT_FILE: open " + missing + ": no such file or directory\n"},
		{"no key file", certFile, missing, "api: TLS_KEY_FILE: open " + missing + ": no such file or directory\n"},
		{"another certificate's key", certFile, otherKey, "api: TLS_CERT_FILE and TLS_KEY_FILE: the key in " + otherKey + " is not the key of the certificate in " + certFile + " (private key does not match public key)\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(binary(t))
			cmd.Env = []string{"ISSUER_BASE_URL=https://tenant.auth0.com/", "AUDIENCE=https://api.example.com", "DATABASE_URL=memory:",
				"ADDR=127.0.0.1:0", "METRICS_ADDR=off", "TLS_CERT_FILE=" + c.cert, "TLS_KEY_FILE=" + c.key}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("got %v, want exit status 1", err)
			}
			if got := stderr.String(); got != c.want {
				t.Errorf("stderr: got %q, want %q", got, c.want)
			}
		})
	}
}

// httpsClient trusts only ca and names the server serverName.
func httpsClient(ca *tlstest.CA, serverName string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: ca.ClientConfig(serverName), ForceAttemptHTTP2: true}}
}

// -dev with TLS settings: the API over HTTPS and HTTP/2 with a
// certificate from a CA made here, named api.test only (no IP address),
// the development issuer still on plain loopback HTTP; api token, api
// proof (the DPoP htu is https) and api healthcheck work against it; HSTS
// is on its answers; a renewed certificate is served without a restart.
func TestDevModeOverTLS(t *testing.T) {
	old := certPollInterval
	certPollInterval = 20 * time.Millisecond
	t.Cleanup(func() { certPollInterval = old })

	ca := tlstest.NewCA(t, "dev CA")
	certDir := t.TempDir()
	first := ca.Issue(t, tlstest.Options{DNSNames: []string{"api.test"}})
	certFile, keyFile := first.Write(t, certDir)
	dir := t.TempDir()
	base, logs, stop := runDev(t, env(map[string]string{"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile, "HSTS_MAX_AGE": "1h"}),
		"-dev-dir", dir, "-addr", "127.0.0.1:0", "-dev-issuer-addr", "127.0.0.1:0", "-metrics-addr", "off")
	addr := strings.TrimPrefix(base, "http://")
	if line := logs.waitFor(t, `"msg":"listening"`); line["scheme"] != "https" {
		t.Errorf("listening: scheme %v, want https", line["scheme"])
	}
	issuerAddr := devIssuerAddr(t, logs) // the banner names an http:// issuer
	if resp, err := http.Get("http://" + issuerAddr + "/.well-known/openid-configuration"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the development issuer over plain HTTP: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	cl := httpsClient(ca, "api.test")
	get := func(path, authorization string, proofs ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "https://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for resp, _ := get("/readyz", ""); resp.StatusCode != 200; resp, _ = get("/readyz", "") {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz over HTTPS never answered 200")
		}
		time.Sleep(20 * time.Millisecond)
	}

	dev := []string{"-dev-dir", dir, "-dev-issuer-addr", issuerAddr}
	tok := command(t, append([]string{"token", "-scope", "read:messages"}, dev...)...)
	resp, body := get("/api/private", "Bearer "+tok)
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.Header.Get("Strict-Transport-Security") != "max-age=3600" {
		t.Errorf("api token over HTTPS: got %d over %s, HSTS %q (%s); want 200 over HTTP/2 with max-age=3600",
			resp.StatusCode, resp.Proto, resp.Header.Get("Strict-Transport-Security"), body)
	}

	// DPoP: the proof names https://, as the client addressed it.
	dtok := command(t, append([]string{"token", "-dpop"}, dev...)...)
	private := "https://" + addr + "/api/private"
	proof := command(t, append(append([]string{"proof"}, dev...), "-url", private, "-token", dtok)...)
	if resp, body := get("/api/private", "DPoP "+dtok, proof); resp.StatusCode != 200 {
		t.Errorf("api proof for %s: got %d %s", private, resp.StatusCode, body)
	}
	plain := command(t, append(append([]string{"proof"}, dev...), "-url", "http://"+addr+"/api/private", "-token", dtok)...)
	if resp, _ := get("/api/private", "DPoP "+dtok, plain); resp.StatusCode != 401 ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), "htu does not match") {
		t.Errorf("a proof naming http:// over HTTPS: got %d %q, want 401 for its htu", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// api healthcheck asks https://127.0.0.1:PORT/readyz, trusting the
	// certificate file and naming the server api.test.
	var stdout, stderr bytes.Buffer
	_, port, _ := net.SplitHostPort(addr)
	if err := run(context.Background(), []string{"healthcheck"}, env(map[string]string{"PORT": port, "TLS_CERT_FILE": certFile}), &stdout, &stderr); err != nil ||
		stdout.String() != "https://127.0.0.1:"+port+"/readyz: ready\n" {
		t.Errorf("api healthcheck: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	// Without the certificate file it does not trust the server.
	stdout.Reset()
	err := run(context.Background(), []string{"healthcheck", "-url", "https://" + addr + "/readyz"}, env(map[string]string{}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("api healthcheck without TLS_CERT_FILE: got %v, want a certificate error", err)
	}

	// A renewal: the next handshakes present the new certificate.
	second := ca.Issue(t, tlstest.Options{DNSNames: []string{"api.test"}})
	second.Write(t, certDir)
	deadline = time.Now().Add(10 * time.Second)
	for {
		c, err := tls.Dial("tcp", addr, ca.ClientConfig("api.test"))
		if err != nil {
			t.Fatal(err)
		}
		serial := c.ConnectionState().PeerCertificates[0].SerialNumber
		c.Close()
		if serial.Cmp(second.Leaf.SerialNumber) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate was never served")
		}
		time.Sleep(20 * time.Millisecond)
	}
	logs.waitFor(t, "serving a new TLS certificate")
	stop()
}
