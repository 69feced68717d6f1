package httpapi_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/httpapi/tlstest"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Tokens of the certificate-binding tests.
const (
	tokCertBound = "mtls-token.bound-to-client-a" // cnf x5t#S256: client A's certificate
	tokCertPlain = "mtls-token.not-bound"         // no cnf
)

// mtlsFixture is the whole router, its fake verifier knowing a token bound
// to client A's certificate, and its metrics.
type mtlsFixture struct {
	handler http.Handler
	reg     *prometheus.Registry
	a, b    tlstest.Client // two clients; tokens are bound to a's certificate
}

func newMTLSFixture(t *testing.T, a, b tlstest.Client, trusted ...string) *mtlsFixture {
	t.Helper()
	return newMTLSFixtureHeader(t, a, b, "", trusted...)
}

// newMTLSFixtureHeader is newMTLSFixture with proxies passing the
// certificate in header ("" for Client-Cert).
func newMTLSFixtureHeader(t *testing.T, a, b tlstest.Client, header string, trusted ...string) *mtlsFixture {
	t.Helper()
	v := fake.New()
	v.Accept(tokCertBound, domain.Principal{Subject: "machine-a", CertThumbprint: a.Thumbprint(), ExpiresAt: time.Now().Add(time.Hour)})
	v.Accept(tokCertPlain, domain.Principal{Subject: "alice", ExpiresAt: time.Now().Add(time.Hour)})
	proxies, err := httpapi.ParseTrustedProxies(trusted)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := httpapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	store := fake.NewMessages()
	proofs, replay := newProofs(t, nil)
	h := httpapi.NewRouter(httpapi.Config{AllowedOrigins: []string{spa}, TrustedProxies: proxies, ClientCertHeader: header}, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, nil),
		Health:   app.NewHealth(v, ports.Stores{Database: store, Messages: store}, replay),
		Messages: app.NewMessages(store, fixtureQuota),
	}, slog.New(slog.NewJSONHandler(io.Discard, nil)), metrics)
	return &mtlsFixture{handler: h, reg: reg, a: a, b: b}
}

// clientCertHeaders returns client_cert_headers_total{result=result}.
func clientCertHeaders(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "client_cert_headers_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0 // not created until first counted
}

// mtlsCase is one request and the answer it must get: 200, or a 401
// invalid_token for reason.
type mtlsCase struct {
	name   string
	client *tlstest.Client // the certificate presented in the handshake; nil: none
	token  string
	header string // Client-Cert; "" for none
	reason domain.Reason
}

// wantAnswer checks the answer of a case: 200, or 401 invalid_token whose
// description and challenge name the reason.
func wantCertAnswer(t *testing.T, status int, h http.Header, body string, reason domain.Reason) {
	t.Helper()
	if reason == "" {
		if status != http.StatusOK {
			t.Fatalf("got %d %s, want 200", status, body)
		}
		return
	}
	if status != http.StatusUnauthorized {
		t.Fatalf("got %d %s, want 401", status, body)
	}
	want := `Bearer realm="api", error="invalid_token", error_description="` + reason.Description() + `"`
	if got := challengesOf(t, h); len(got) == 0 || got[0] != want {
		t.Errorf("WWW-Authenticate: got %q, want %q first", got, want)
	}
	if !strings.Contains(body, `"error":"invalid_token"`) || !strings.Contains(body, reason.Description()) {
		t.Errorf("body: got %s, want invalid_token: %s", body, reason.Description())
	}
}

// A certificate-bound token over the API's own TLS, HTTP/1.1 and HTTP/2:
// accepted only on a connection whose client presented that certificate
// (proving its key in the handshake); a bearer token needs none, and a
// Client-Cert header from a client that is not a trusted proxy is ignored
// (and counted).
func TestCertificateBoundTokensOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "mtls server CA")
	clientCA := tlstest.NewCA(t, "mtls client CA")
	for _, mode := range []struct {
		name string
		cas  *tlstest.CA // TLS_CLIENT_CA_FILE; nil: self-signed certificates, bound by thumbprint
		a, b tlstest.Client
	}{
		{"self-signed client certificates", nil, tlstest.SelfSignedClient(t, "client a"), tlstest.SelfSignedClient(t, "client b")},
		{"client certificates verified against a CA", clientCA, clientCA.IssueClient(t, "client a"), clientCA.IssueClient(t, "client b")},
	} {
		t.Run(mode.name, func(t *testing.T) {
			f := newMTLSFixture(t, mode.a, mode.b)
			certFile, keyFile := ca.Issue(t, tlstest.Options{}).Write(t, t.TempDir())
			cert, _ := watch(t, certFile, keyFile)
			if mode.cas != nil {
				cert.AskClientCertificates(mode.cas.Pool())
			} else {
				cert.AskClientCertificates(nil)
			}
			_, addr, _ := tlsServer(t, cert, f.handler, 50)
			cases := []mtlsCase{
				{"bound token with its certificate", &f.a, tokCertBound, "", ""},
				{"bound token without a certificate", nil, tokCertBound, "", domain.ReasonCertificateMissing},
				{"bound token with another certificate", &f.b, tokCertBound, "", domain.ReasonCertificateMismatch},
				{"bound token, its certificate only in Client-Cert from a client", nil, tokCertBound, f.a.ClientCertHeader(), domain.ReasonCertificateMissing},
				{"bound token, another certificate, its own in Client-Cert", &f.b, tokCertBound, f.a.ClientCertHeader(), domain.ReasonCertificateMismatch},
				{"bearer token without a certificate", nil, tokCertPlain, "", ""},
				{"bearer token with a certificate", &f.b, tokCertPlain, "", ""},
			}
			for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
				for _, tc := range cases {
					t.Run(proto+"/"+tc.name, func(t *testing.T) {
						conf := ca.ClientConfig("localhost")
						if tc.client != nil {
							conf.Certificates = []tls.Certificate{tc.client.TLS}
						}
						tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: proto == "HTTP/2.0"}
						defer tr.CloseIdleConnections()
						req, _ := http.NewRequest("GET", "https://"+addr+"/api/private", nil)
						req.Header.Set("Authorization", "Bearer "+tc.token)
						if tc.header != "" {
							req.Header.Set("Client-Cert", tc.header)
						}
						res, err := (&http.Client{Transport: tr}).Do(req)
						if err != nil {
							t.Fatal(err)
						}
						defer res.Body.Close()
						body, _ := io.ReadAll(res.Body)
						if res.Proto != proto {
							t.Fatalf("protocol: got %s, want %s", res.Proto, proto)
						}
						wantCertAnswer(t, res.StatusCode, res.Header, string(body), tc.reason)
					})
				}
			}
			if got := clientCertHeaders(t, f.reg, "ignored"); got != 4 {
				t.Errorf(`client_cert_headers_total{result="ignored"}: got %v, want 4`, got)
			}
			if got := outcome(t, f.reg, string(domain.ReasonCertificateMissing)); got != 4 {
				t.Errorf("auth_outcomes_total{outcome=certificate_missing}: got %v, want 4", got)
			}
			if got := outcome(t, f.reg, string(domain.ReasonCertificateMismatch)); got != 4 {
				t.Errorf("auth_outcomes_total{outcome=certificate_mismatch}: got %v, want 4", got)
			}
		})
	}
}

// With TLS_CLIENT_CA_FILE a certificate that does not chain to the CA
// fails the handshake (a self-signed one, one of another CA); with none,
// a self-signed one is taken (and the token must name it).
func TestClientCertificateVerification(t *testing.T) {
	ca := tlstest.NewCA(t, "mtls server CA")
	clientCA, otherCA := tlstest.NewCA(t, "client CA"), tlstest.NewCA(t, "another CA")
	good := clientCA.IssueClient(t, "good")
	f := newMTLSFixture(t, good, good)
	certFile, keyFile := ca.Issue(t, tlstest.Options{}).Write(t, t.TempDir())
	cert, _ := watch(t, certFile, keyFile)
	cert.AskClientCertificates(clientCA.Pool())
	_, addr, _ := tlsServer(t, cert, f.handler, 50)
	for _, tc := range []struct {
		name   string
		client tlstest.Client
		ok     bool
	}{
		{"issued by the CA", good, true},
		{"self-signed", tlstest.SelfSignedClient(t, "self"), false},
		{"issued by another CA", otherCA.IssueClient(t, "other"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := ca.ClientConfig("localhost")
			// Sent whatever CAs the server names (Go's client would
			// otherwise keep quiet a certificate of another CA).
			conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tc.client.TLS, nil }
			c, err := tls.Dial("tcp", addr, conf)
			if err == nil {
				// TLS 1.3: the server's verdict on the client's
				// certificate arrives after the client's handshake ends.
				c.SetReadDeadline(time.Now().Add(time.Second))
				_, err = c.Read(make([]byte, 1))
				if errors.Is(err, io.EOF) || err != nil && strings.Contains(err.Error(), "timeout") {
					err = nil // no alert: the server waits for a request
				}
				c.Close()
			}
			if tc.ok && err != nil {
				t.Fatalf("handshake: %v, want it accepted", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "certificate")) {
				t.Fatalf("handshake: %v, want a refusal of the certificate", err)
			}
		})
	}
}

// RFC 9440's Client-Cert is believed from TRUSTED_PROXIES only: from a
// trusted proxy the certificate it names is the client's (and without it
// the client presented none); from anyone else it is ignored and counted.
func TestClientCertHeaderFromProxies(t *testing.T) {
	a, b := tlstest.SelfSignedClient(t, "client a"), tlstest.SelfSignedClient(t, "client b")
	f := newMTLSFixture(t, a, b, "10.0.0.0/8")
	const proxy, stranger = "10.1.2.3:4711", "203.0.113.9:4711"
	header := a.ClientCertHeader()
	unpadded := strings.TrimRight(header[:len(header)-1], "=") + ":"
	for _, tc := range []struct {
		name    string
		remote  string
		token   string
		headers []string
		reason  domain.Reason
		result  string // client_cert_headers_total's result counted, "" for none
	}{
		{"proxy: the client's certificate", proxy, tokCertBound, []string{header}, "", "used"},
		{"proxy: the certificate without padding", proxy, tokCertBound, []string{unpadded}, "", "used"},
		{"proxy: with a parameter", proxy, tokCertBound, []string{" " + header + ";x=1"}, "", "used"},
		{"proxy: another certificate", proxy, tokCertBound, []string{b.ClientCertHeader()}, domain.ReasonCertificateMismatch, "used"},
		{"proxy: no Client-Cert", proxy, tokCertBound, nil, domain.ReasonCertificateMissing, ""},
		{"proxy: two Client-Cert fields", proxy, tokCertBound, []string{header, header}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: not a byte sequence (PEM)", proxy, tokCertBound, []string{string(a.CertPEM[:60])}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: not base64", proxy, tokCertBound, []string{":!!!!:"}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: empty byte sequence", proxy, tokCertBound, []string{"::"}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: bytes after the sequence", proxy, tokCertBound, []string{header + "x"}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: a list, another's certificate first", proxy, tokCertBound, []string{header + ";x, " + b.ClientCertHeader()}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: a list of two", proxy, tokCertBound, []string{header + ", " + header}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: a dangling ;", proxy, tokCertBound, []string{header + ";"}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: a parameter key not lowercase", proxy, tokCertBound, []string{header + ";X=1"}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: a parameter without a value after =", proxy, tokCertBound, []string{header + ";x="}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: a space before the parameter", proxy, tokCertBound, []string{header + " ;x"}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: a byte sequence never closed", proxy, tokCertBound, []string{header[:len(header)-1]}, domain.ReasonCertificateMissing, "malformed"},
		{"proxy: parameters of every kind", proxy, tokCertBound, []string{header + `;a;b=?1;c=-1.5;d="q\"s";e=tok/en:x;*f=:AAA=:`}, "", "used"},
		{"proxy: a bearer token with a certificate", proxy, tokCertPlain, []string{b.ClientCertHeader()}, "", "used"},
		{"stranger: the client's certificate", stranger, tokCertBound, []string{header}, domain.ReasonCertificateMissing, "ignored"},
		{"stranger: a bearer token", stranger, tokCertPlain, []string{header}, "", "ignored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if tc.result != "" {
				before = clientCertHeaders(t, f.reg, tc.result)
			}
			req := httptest.NewRequest("GET", "/api/private", nil)
			req.RemoteAddr = tc.remote
			req.Header.Set("Authorization", "Bearer "+tc.token)
			for _, v := range tc.headers {
				req.Header.Add("Client-Cert", v)
			}
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			wantCertAnswer(t, rec.Code, rec.Header(), rec.Body.String(), tc.reason)
			if tc.result != "" {
				if got := clientCertHeaders(t, f.reg, tc.result); got != before+1 {
					t.Errorf(`client_cert_headers_total{result=%q}: got %v, want %v`, tc.result, got, before+1)
				}
			}
		})
	}
}

// With CLIENT_CERT_HEADER a proxy's header of another name is read, in
// nginx's form too ($ssl_client_escaped_cert: URL-encoded PEM); Client-Cert
// is then not read at all.
func TestClientCertHeaderOfNginx(t *testing.T) {
	a, b := tlstest.SelfSignedClient(t, "client a"), tlstest.SelfSignedClient(t, "client b")
	f := newMTLSFixtureHeader(t, a, b, "x-ssl-client-cert", "127.0.0.1")
	escaped := func(c tlstest.Client) string { return url.PathEscape(string(c.CertPEM)) }
	for _, tc := range []struct {
		name   string
		header string
		value  string
		reason domain.Reason
	}{
		{"escaped PEM", "X-SSL-Client-Cert", escaped(a), ""},
		{"a byte sequence", "X-SSL-Client-Cert", a.ClientCertHeader(), ""},
		{"escaped PEM of another certificate", "X-SSL-Client-Cert", escaped(b), domain.ReasonCertificateMismatch},
		{"escaped PEM of a key", "X-SSL-Client-Cert", url.PathEscape(string(a.KeyPEM)), domain.ReasonCertificateMissing},
		{"PEM cut short", "X-SSL-Client-Cert", escaped(a)[:200], domain.ReasonCertificateMissing},
		{"two PEM certificates", "X-SSL-Client-Cert", escaped(a) + url.PathEscape(string(b.CertPEM)), domain.ReasonCertificateMissing},
		{"two PEM certificates as a list", "X-SSL-Client-Cert", escaped(a) + ", " + escaped(b), domain.ReasonCertificateMissing},
		{"text before the PEM", "X-SSL-Client-Cert", "junk%0A" + escaped(a), domain.ReasonCertificateMissing},
		{"escaped PEM with a trailing newline", "X-SSL-Client-Cert", escaped(a) + "%0A", ""},
		{"Client-Cert is not read", "Client-Cert", a.ClientCertHeader(), domain.ReasonCertificateMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/private", nil)
			req.RemoteAddr = "127.0.0.1:5000"
			req.Header.Set("Authorization", "Bearer "+tokCertBound)
			req.Header.Set(tc.header, tc.value)
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			wantCertAnswer(t, rec.Code, rec.Header(), rec.Body.String(), tc.reason)
		})
	}
}
