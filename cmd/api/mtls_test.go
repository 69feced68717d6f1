package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/httpapi/tlstest"
)

// -dev over TLS with TLS_CLIENT_CERTS=request, as the README's curl with
// --cert and --key: api token -mtls makes (then reuses) a self-signed
// client certificate and prints a token bound to it, which the API takes
// over HTTPS only from a client presenting that certificate.
func TestDevModeCertificateBoundToken(t *testing.T) {
	ca := tlstest.NewCA(t, "dev CA")
	certFile, keyFile := ca.Issue(t, tlstest.Options{DNSNames: []string{"api.test"}}).Write(t, t.TempDir())
	dir := t.TempDir()
	base, logs, _ := runDev(t, env(map[string]string{"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile, "TLS_CLIENT_CERTS": "request",
		"DEV_ISSUER_MTLS_ADDR": "127.0.0.1:0"}),
		"-dev-dir", dir, "-addr", "127.0.0.1:0", "-dev-issuer-addr", "127.0.0.1:0", "-metrics-addr", "off")
	addr := strings.TrimPrefix(base, "http://")
	dev := []string{"-dev-dir", dir, "-dev-issuer-addr", devIssuerAddr(t, logs)}

	tok := command(t, append([]string{"token", "-mtls", "-scope", "read:messages"}, dev...)...)
	again := command(t, append([]string{"token", "-mtls"}, dev...)...)
	clientCert, err := tls.LoadX509KeyPair(filepath.Join(dir, devissuer.ClientCertFile), filepath.Join(dir, devissuer.ClientKeyFile))
	if err != nil {
		t.Fatalf("the client certificate api token -mtls wrote: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, devissuer.ClientKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, %v; want mode 0600", devissuer.ClientKeyFile, fi, err)
	}
	other := tlstest.SelfSignedClient(t, "another machine")

	get := func(client *tls.Certificate, token string) (*http.Response, string) {
		t.Helper()
		conf := ca.ClientConfig("api.test")
		if client != nil {
			conf.Certificates = []tls.Certificate{*client}
		}
		tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		req, err := http.NewRequest("GET", "https://"+addr+"/api/private-scoped", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for resp, _ := get(nil, tok); resp.StatusCode == 503; resp, _ = get(nil, tok) {
		if time.Now().After(deadline) {
			t.Fatal("the API never loaded the issuer's keys")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, body := get(&clientCert, tok); resp.StatusCode != 200 {
		t.Fatalf("token -mtls with its certificate: got %d %s, want 200", resp.StatusCode, body)
	}
	// The metadata tells clients that certificate-bound tokens work here.
	tr := &http.Transport{TLSClientConfig: ca.ClientConfig("api.test")}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/.well-known/oauth-protected-resource")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		CertificateBound *bool `json:"tls_client_certificate_bound_access_tokens"`
	}
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || meta.CertificateBound == nil || !*meta.CertificateBound {
		t.Errorf("metadata: tls_client_certificate_bound_access_tokens %v (%v), want true with TLS_CLIENT_CERTS=request", meta.CertificateBound, err)
	}
	for _, tc := range []struct {
		name   string
		client *tls.Certificate
		token  string
		want   string
	}{
		{"without a certificate", nil, tok, "the request came with none"},
		{"with another certificate", &other.TLS, tok, "access token is bound to another client certificate"},
		{"a second token, without a certificate", nil, again, "the request came with none"},
	} {
		resp, body := get(tc.client, tc.token)
		want := `Bearer realm="api", error="invalid_token", error_description="access token is bound to`
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), want) || !strings.Contains(body, tc.want) {
			t.Errorf("%s: got %d %q %s, want 401 invalid_token: …%s", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, tc.want)
		}
	}
	// The second token is bound to the same certificate, reused.
	if resp, body := get(&clientCert, again); resp.StatusCode != 403 || !strings.Contains(body, "insufficient_scope") {
		t.Errorf("the second token (no scope) with the reused certificate: got %d %s, want 403 insufficient_scope", resp.StatusCode, body)
	}

	// The development issuer's token endpoint over mutual TLS, named by
	// its discovery document (RFC 8705 §5): dev-machine authenticated by
	// the certificate of api token -mtls (self_signed_tls_client_auth), or
	// by its secret, gets a token bound to the certificate it presented.
	resp, err = http.Get("http://" + dev[3] + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Aliases map[string]string `json:"mtls_endpoint_aliases"`
		Methods []string          `json:"token_endpoint_auth_methods_supported"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	tokenURL := doc.Aliases["token_endpoint"]
	if err != nil || !strings.HasPrefix(tokenURL, "https://localhost:") || !slices.Contains(doc.Methods, "self_signed_tls_client_auth") {
		t.Fatalf("discovery: %+v, %v; want an https token endpoint alias and self_signed_tls_client_auth", doc, err)
	}
	issuerToken := func(client *tls.Certificate, form url.Values) (int, map[string]any) {
		t.Helper()
		conf := ca.ClientConfig("api.test")
		if client != nil {
			conf.Certificates = []tls.Certificate{*client}
		}
		tr := &http.Transport{TLSClientConfig: conf}
		defer tr.CloseIdleConnections()
		target := strings.Replace(tokenURL, "https://localhost:", "https://127.0.0.1:", 1)
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).PostForm(target, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	selfSigned := url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine}, "audience": {devissuer.DefaultAudience}}
	status, body := issuerToken(&clientCert, selfSigned)
	bound, _ := body["access_token"].(string)
	if status != 200 || bound == "" {
		t.Fatalf("self_signed_tls_client_auth: got %d %v, want a token", status, body)
	}
	if resp, body := get(&clientCert, bound); resp.StatusCode != 200 {
		t.Errorf("the issuer's bound token with its certificate: got %d %s, want 200", resp.StatusCode, body)
	}
	if resp, body := get(nil, bound); resp.StatusCode != 401 || !strings.Contains(body, "the request came with none") {
		t.Errorf("the issuer's bound token without a certificate: got %d %s, want 401 certificate_missing", resp.StatusCode, body)
	}
	if status, body := issuerToken(&other.TLS, selfSigned); status != 401 || body["error"] != "invalid_client" {
		t.Errorf("self_signed_tls_client_auth with an unregistered certificate: got %d %v, want 401 invalid_client", status, body)
	}
	if status, body := issuerToken(nil, selfSigned); status != 401 || body["error"] != "invalid_client" {
		t.Errorf("no secret and no certificate: got %d %v, want 401 invalid_client", status, body)
	}
	withSecret := url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine},
		"client_secret": {devissuer.DefaultMachineToken}, "audience": {devissuer.DefaultAudience}}
	status, body = issuerToken(&other.TLS, withSecret)
	otherBound, _ := body["access_token"].(string)
	if status != 200 || otherBound == "" {
		t.Fatalf("client_secret over mutual TLS: got %d %v, want a token", status, body)
	}
	if resp, body := get(&other.TLS, otherBound); resp.StatusCode != 200 {
		t.Errorf("a token bound to the certificate presented with a secret: got %d %s, want 200", resp.StatusCode, body)
	}
	if resp, body := get(&clientCert, otherBound); resp.StatusCode != 401 || !strings.Contains(body, "another client certificate") {
		t.Errorf("that token with the development certificate: got %d %s, want 401 certificate_mismatch", resp.StatusCode, body)
	}
}
