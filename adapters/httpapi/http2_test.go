package httpapi_test

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/httpapi/tlstest"
	"github.com/example/spaapi/domain"
)

// tokWriter may post messages.
const tokWriter = "writer-token.with.write-messages"

// routerOverTLS serves the full router over TLS (HSTS on, a year), with
// a certificate from a CA made here, and returns its address and the CA.
func routerOverTLS(t *testing.T) (addr string, ca *tlstest.CA, f *fixture) {
	t.Helper()
	f = newFixture(t)
	f.fake.Accept(tokWriter, domain.Principal{Subject: "auth0|writer", Issuer: "https://issuer.example/", Audiences: []string{"https://api.example"},
		Scopes: []string{"write:messages"}, ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)})
	ca = tlstest.NewCA(t, "router CA")
	certFile, keyFile := ca.Issue(t, tlstest.Options{}).Write(t, t.TempDir())
	cert, _ := watch(t, certFile, keyFile)
	_, addr, _ = tlsServer(t, cert, httpapi.HSTS(f.handler, 365*24*time.Hour), 100)
	return addr, ca, f
}

// client speaks HTTPS to the test server trusting ca, offering protos by
// ALPN: h2 and http/1.1, or http/1.1 only.
func client(ca *tlstest.CA, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: ca.ClientConfig("localhost"), ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// The whole router over TLS, by HTTP/2 and by HTTP/1.1: ALPN picks the
// protocol, the protected endpoint takes a token and refuses a request
// without one (RFC 6750), the body limit holds, and every HTTPS answer
// carries Strict-Transport-Security.
func TestRouterOverTLS(t *testing.T) {
	addr, ca, _ := routerOverTLS(t)
	for _, c := range []struct {
		name  string
		h2    bool
		proto string
	}{{"HTTP/2", true, "h2"}, {"HTTP/1.1", false, "http/1.1"}} {
		t.Run(c.name, func(t *testing.T) {
			cl := client(ca, c.h2)
			do := func(method, path, token, body string) (*http.Response, string) {
				t.Helper()
				req, err := http.NewRequest(method, "https://"+addr+path, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := cl.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp, string(b)
			}

			resp, body := do("GET", "/api/private", tokReader, "")
			if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != c.proto || (resp.ProtoMajor == 2) != c.h2 {
				t.Fatalf("GET /api/private with a token: got %d %s over %s (ALPN %q), want 200 over %s", resp.StatusCode, body, resp.Proto, resp.TLS.NegotiatedProtocol, c.proto)
			}
			if resp.TLS.Version < tls.VersionTLS12 {
				t.Errorf("TLS version %x, want 1.2 or later", resp.TLS.Version)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
				t.Errorf("Strict-Transport-Security: got %q, want max-age=31536000", got)
			}
			resp, body = do("GET", "/api/private", "", "")
			// The metadata's URL is an https one: the request came over TLS.
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="api", resource_metadata="https://`+addr+`/.well-known/oauth-protected-resource"` {
				t.Errorf("GET /api/private without a token: got %d %q %s, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
				t.Errorf("Strict-Transport-Security on a 401: got %q", got)
			}
			resp, body = do("POST", "/api/messages", tokWriter, `{"text":"`+strings.Repeat("a", 17<<10)+`"}`)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("POST a 17 KiB body: got %d %s, want 413", resp.StatusCode, body)
			}
			resp, body = do("POST", "/api/messages", tokWriter, `{"text":"hello over `+c.name+`"}`)
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("POST a message: got %d %s, want 201", resp.StatusCode, body)
			}
		})
	}
}

// Strict-Transport-Security goes on HTTPS answers only: never over plain
// HTTP, where a browser must ignore it and an attacker could strip it.
func TestHSTSOnlyOverTLS(t *testing.T) {
	f := newFixture(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httpapi.NewServer("", httpapi.HSTS(f.handler, 10*time.Minute), log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	resp, err := http.Get("http://" + ln.Addr().String() + "/api/public")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header["Strict-Transport-Security"] != nil {
		t.Errorf("plain HTTP: got %d with Strict-Transport-Security %q, want 200 without it", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}

	addr, ca, _ := routerOverTLS(t)
	resp, err = client(ca, true).Get("https://" + addr + "/no/such/path")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Errorf("HTTPS 404: got %d with Strict-Transport-Security %q, want it there", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
}

// Only TLS 1.2 and 1.3 are spoken, and TLS 1.2 only with forward-secret
// AEAD suites: a client that offers TLS 1.1 at most, or TLS 1.2 with
// nothing but CBC or RC4 suites (which Go would otherwise agree to
// for some), fails its handshake; one offering any of the AEAD suites
// gets it.
func TestTLSRefusesOldVersionsAndWeakSuites(t *testing.T) {
	addr, ca, _ := routerOverTLS(t)
	dial := func(min, max uint16, suites ...uint16) (tls.ConnectionState, error) {
		conf := ca.ClientConfig("localhost")
		conf.MinVersion, conf.MaxVersion, conf.CipherSuites = min, max, suites
		c, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}
	for _, c := range []struct {
		name     string
		min, max uint16
		suite    uint16
	}{
		{"TLS 1.0", tls.VersionTLS10, tls.VersionTLS10, 0},
		{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, 0},
		{"TLS 1.2 AES-128-CBC-SHA", tls.VersionTLS12, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
		{"TLS 1.2 AES-256-CBC-SHA", tls.VersionTLS12, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA},
		{"TLS 1.2 AES-128-CBC-SHA256", tls.VersionTLS12, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256},
		{"TLS 1.2 RC4", tls.VersionTLS12, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA},
	} {
		var suites []uint16
		if c.suite != 0 {
			suites = []uint16{c.suite}
		}
		if st, err := dial(c.min, c.max, suites...); err == nil {
			t.Errorf("%s: got a handshake (version %x, suite %s), want it refused", c.name, st.Version, tls.CipherSuiteName(st.CipherSuite))
		}
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		st, err := dial(tls.VersionTLS12, tls.VersionTLS12, suite)
		if err != nil || st.Version != tls.VersionTLS12 || st.CipherSuite != suite {
			t.Errorf("TLS 1.2 offering only %s: got version %x, suite %s, error %v; want that suite", tls.CipherSuiteName(suite), st.Version, tls.CipherSuiteName(st.CipherSuite), err)
		}
	}
	if st, err := dial(tls.VersionTLS12, tls.VersionTLS13); err != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("a client offering TLS 1.3: got version %x, error %v; want TLS 1.3", st.Version, err)
	}
}
