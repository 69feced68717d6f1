// Package tlstest makes certificate authorities and server certificates
// for tests that serve HTTPS: a CA made in the test (crypto/x509), never a
// file checked into the repository, so that nothing expires under the tests.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority that lives for one test.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate, for a client's root pool or a file.
	PEM []byte
}

// NewCA makes a CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool returns a pool holding only the CA, for a client.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Pair is a server certificate and its key, PEM-encoded.
type Pair struct {
	Leaf    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// Options shape a server certificate; the zero value is valid for a day
// from an hour ago, for localhost, 127.0.0.1 and ::1.
type Options struct {
	DNSNames  []string // default: localhost
	IPs       []net.IP // default: 127.0.0.1 and ::1, when DNSNames is not set either
	NotBefore time.Time
	NotAfter  time.Time
}

// Issue makes a server certificate signed by the CA.
func (ca *CA) Issue(t testing.TB, o Options) Pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.DNSNames == nil && o.IPs == nil {
		o.DNSNames = []string{"localhost"}
		o.IPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: firstName(o)},
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return sign(t, tmpl, ca.Cert, ca.key, key)
}

// sign signs tmpl for key with parent's key parentKey (tmpl and key
// themselves when parent is nil: self-signed).
func sign(t testing.TB, tmpl, parent *x509.Certificate, parentKey, key *ecdsa.PrivateKey) Pair {
	t.Helper()
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Pair{
		Leaf:    leaf,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// Write writes the pair as cert.pem and key.pem in dir and returns their
// paths.
func (p Pair) Write(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	WriteFile(t, certFile, p.CertPEM)
	WriteFile(t, keyFile, p.KeyPEM)
	return certFile, keyFile
}

// WriteFile writes data to path (mode 0600), failing t on error.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// ClientConfig is a TLS client configuration trusting only the CA, for
// serverName, offering protos by ALPN (none: Go's default).
func (ca *CA) ClientConfig(serverName string, protos ...string) *tls.Config {
	return &tls.Config{RootCAs: ca.Pool(), ServerName: serverName, NextProtos: protos, MinVersion: tls.VersionTLS12}
}

func firstName(o Options) string {
	if len(o.DNSNames) > 0 {
		return o.DNSNames[0]
	}
	if len(o.IPs) > 0 {
		return o.IPs[0].String()
	}
	return "server"
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// Client is a TLS client certificate and its key, for mutual TLS (RFC
// 8705): TLS is what a Go client presents, CertPEM and KeyPEM what curl's
// --cert and --key read.
type Client struct {
	Pair
	TLS tls.Certificate
}

// IssueClient makes a client certificate named name, signed by the CA.
func (ca *CA) IssueClient(t testing.TB, name string) Client {
	t.Helper()
	return newClient(t, name, ca.Cert, ca.key)
}

// SelfSignedClient makes a self-signed client certificate named name
// (RFC 8705 §2.2).
func SelfSignedClient(t testing.TB, name string) Client {
	t.Helper()
	return newClient(t, name, nil, nil)
}

func newClient(t testing.TB, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) Client {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	p := sign(t, tmpl, parent, parentKey, key)
	return Client{Pair: p, TLS: tls.Certificate{Certificate: [][]byte{p.Leaf.Raw}, PrivateKey: key, Leaf: p.Leaf}}
}

// Thumbprint is the certificate's RFC 8705 x5t#S256: base64url (no
// padding) of the SHA-256 of its DER, as a certificate-bound token's cnf
// names it.
func (c Client) Thumbprint() string {
	sum := sha256.Sum256(c.Leaf.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ClientCertHeader is the certificate as RFC 9440's Client-Cert header
// carries it: a Structured Field byte sequence of the DER.
func (c Client) ClientCertHeader() string {
	return ":" + base64.StdEncoding.EncodeToString(c.Leaf.Raw) + ":"
}
