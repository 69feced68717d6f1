package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/httpapi"
)

// tlsConfig is how the API serves HTTPS: with certFile set, over TLS
// with HTTP/2; else plain HTTP.
type tlsConfig struct {
	certFile, keyFile string // TLS_CERT_FILE, TLS_KEY_FILE
	hsts              time.Duration
	hstsSet           bool // HSTS_MAX_AGE is set (0 is a value: it tells browsers to forget)
	// Client certificates (RFC 8705): asked for (TLS_CLIENT_CERTS=request
	// or TLS_CLIENT_CA_FILE set), and verified against clientCAs if set.
	askClients bool
	clientCAs  *x509.CertPool
}

// maxHSTSAge is the longest HSTS_MAX_AGE: two years, what the HSTS
// preload list asks for. More is surely a mistake of units.
const maxHSTSAge = 2 * 365 * 24 * time.Hour

// certPollInterval is how often the certificate files are read again;
// tests shorten it.
var certPollInterval = httpapi.CertificatePollInterval

func tlsSettings() []*setting {
	return []*setting{
		{flag: "tls-cert-file", envs: []string{"TLS_CERT_FILE"}, usage: "serve HTTPS (and HTTP/2) with this certificate, PEM, intermediates after it (e.g. certbot's fullchain.pem); read again when it changes"},
		{flag: "tls-key-file", envs: []string{"TLS_KEY_FILE"}, usage: "the certificate's private key, PEM (e.g. certbot's privkey.pem)"},
		{flag: "tls-client-certs", envs: []string{"TLS_CLIENT_CERTS"}, usage: "with TLS: off (default) or request: ask clients for a certificate (never require one), for tokens bound to it (cnf x5t#S256, RFC 8705); any certificate, self-signed too, bound by its thumbprint"},
		{flag: "tls-client-ca-file", envs: []string{"TLS_CLIENT_CA_FILE"}, usage: "with TLS: ask clients for a certificate, and accept only one issued by these CAs (PEM); implies TLS_CLIENT_CERTS=request"},
		{flag: "client-cert-header", envs: []string{"CLIENT_CERT_HEADER"}, usage: "the header TRUSTED_PROXIES pass the client's TLS certificate in, for certificate-bound tokens: a byte sequence (RFC 9440) or URL-encoded PEM (nginx's $ssl_client_escaped_cert) (default Client-Cert)"},
		{flag: "hsts-max-age", envs: []string{"HSTS_MAX_AGE"}, usage: "with TLS: send Strict-Transport-Security: max-age=N on every HTTPS answer, e.g. 8760h or 31536000 (default: none)"},
	}
}

// loadTLS resolves TLS_CERT_FILE, TLS_KEY_FILE and HSTS_MAX_AGE. The files
// are read when the server starts (startTLS).
func loadTLS(get getter) (tlsConfig, error) {
	var c tlsConfig
	cert, certName, err := get("tls-cert-file")
	if err != nil {
		return c, err
	}
	key, keyName, err := get("tls-key-file")
	if err != nil {
		return c, err
	}
	switch {
	case cert != "" && key == "":
		return c, fmt.Errorf("%s is set but %s is not: set both (the certificate and its key) or neither", certName, keyName)
	case cert == "" && key != "":
		return c, fmt.Errorf("%s is set but %s is not: set both (the certificate and its key) or neither", keyName, certName)
	}
	c.certFile, c.keyFile = cert, key
	if err := loadClientCerts(get, &c, certName); err != nil {
		return c, err
	}
	v, name, err := get("hsts-max-age")
	if err != nil || v == "" {
		return c, err
	}
	if cert == "" {
		return c, fmt.Errorf("%s is set, but the API serves plain HTTP (no %s and %s): Strict-Transport-Security goes on HTTPS answers only; "+
			"behind a proxy that terminates TLS, set it there", name, certName, keyName)
	}
	if c.hsts, err = durationOrSeconds(v, 0, maxHSTSAge); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	c.hstsSet = true
	return c, nil
}

// loadClientCerts resolves TLS_CLIENT_CERTS and TLS_CLIENT_CA_FILE into
// c, reading the CA file now so that a bad one stops start-up.
func loadClientCerts(get getter, c *tlsConfig, certName string) error {
	mode, modeName, err := get("tls-client-certs")
	if err != nil {
		return err
	}
	caFile, caName, err := get("tls-client-ca-file")
	if err != nil {
		return err
	}
	switch mode {
	case "", "off":
	case "request":
		c.askClients = true
	default:
		return fmt.Errorf("%s: %q is not one of \"off\", \"request\"", modeName, mode)
	}
	if caFile != "" {
		if mode == "off" {
			return fmt.Errorf("%s is set but %s is off: unset one of them", caName, modeName)
		}
		c.askClients = true
		data, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("%s: %w", caName, err)
		}
		c.clientCAs = x509.NewCertPool()
		if !c.clientCAs.AppendCertsFromPEM(data) {
			return fmt.Errorf("%s: %s holds no PEM-encoded certificate", caName, caFile)
		}
	}
	if c.askClients && c.certFile == "" {
		name := modeName
		if caFile != "" {
			name = caName
		}
		return fmt.Errorf("%s is set, but the API serves plain HTTP (no %s): client certificates come in a TLS handshake; "+
			"behind a proxy that terminates TLS, have it pass them in Client-Cert (RFC 9440) and list it in TRUSTED_PROXIES", name, certName)
	}
	return nil
}

// clientCertHeader resolves CLIENT_CERT_HEADER: a header name, which only
// trusted proxies may send.
func clientCertHeader(get getter, proxies []netip.Prefix) (string, error) {
	v, name, err := get("client-cert-header")
	if err != nil || v == "" {
		return "", err
	}
	for _, r := range v {
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", r) && !('0' <= r && r <= '9') && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') {
			return "", fmt.Errorf("%s: %q is not a header name", name, v)
		}
	}
	if len(proxies) == 0 {
		return "", fmt.Errorf("%s is set, but TRUSTED_PROXIES is not: the header is read only from trusted proxies", name)
	}
	return v, nil
}

// on reports whether the API serves HTTPS.
func (c tlsConfig) on() bool { return c.certFile != "" }

// startTLS reads the certificate and key, registers their metrics and
// watches the files until ctx ends or stop is called. Errors name the
// variable of the file at fault.
func startTLS(ctx context.Context, c tlsConfig, log *slog.Logger, reg prometheus.Registerer) (cert *httpapi.Certificate, stop func(), err error) {
	cert, stop, err = httpapi.WatchCertificate(ctx, c.certFile, c.keyFile, certPollInterval, log)
	var ce *httpapi.CertificateError
	switch {
	case errors.As(err, &ce) && ce.Cert && ce.Key:
		return nil, nil, fmt.Errorf("TLS_CERT_FILE and TLS_KEY_FILE: %w", err)
	case errors.As(err, &ce) && ce.Key:
		return nil, nil, fmt.Errorf("TLS_KEY_FILE: %w", err)
	case err != nil:
		return nil, nil, fmt.Errorf("TLS_CERT_FILE: %w", err)
	}
	if err := registerAll(reg, cert.Collectors()); err != nil {
		stop()
		return nil, nil, err
	}
	if c.askClients {
		cert.AskClientCertificates(c.clientCAs)
	}
	return cert, stop, nil
}

// serve serves srv on ln, over TLS with cert if it is set.
func serve(srv *http.Server, ln *httpapi.Listener, cert *httpapi.Certificate) error {
	if cert != nil {
		return httpapi.ServeTLS(srv, ln, cert)
	}
	return srv.Serve(ln)
}

// scheme is the API's URL scheme.
func (c tlsConfig) scheme() string {
	if c.on() {
		return "https"
	}
	return "http"
}

// healthcheckTLS is how api healthcheck trusts the API's certificate when
// TLS_CERT_FILE is set (nil otherwise: Go's defaults): the system's roots
// and every certificate in that file, the served one and its
// intermediates, so that a certificate from a private CA or a self-signed
// one is trusted as well as a public one, and the one served before a
// renewal is read still is (it chains to the same intermediate). A
// loopback healthcheck asks an IP address, which a certificate rarely
// names: then the server is named (and verified) by the certificate's
// first DNS name. Nothing is ever accepted unverified.
func healthcheckTLS(getenv func(string) string, target string) (*tls.Config, error) {
	file := strings.TrimSpace(getenv("TLS_CERT_FILE"))
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("TLS_CERT_FILE: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	var leaf *x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("TLS_CERT_FILE: %s: %w", file, err)
		}
		if leaf == nil {
			leaf = c
		}
		roots.AddCert(c)
	}
	if leaf == nil {
		return nil, fmt.Errorf("TLS_CERT_FILE: %s: no PEM-encoded certificate in the file", file)
	}
	conf := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if u, err := url.Parse(target); err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && len(leaf.DNSNames) > 0 && !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			conf.ServerName = leaf.DNSNames[0]
		}
	}
	return conf, nil
}
