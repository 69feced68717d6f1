package devissuer

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// ClientCertFile is where the development client certificate is kept in
// the dev directory, beside its key (ClientKeyFile): the self-signed
// certificate `api token -mtls` binds tokens to (RFC 8705), for curl's
// --cert and --key.
const (
	ClientCertFile = "mtls-client.pem"
	ClientKeyFile  = "mtls-client-key.pem"
)

// ClientCertLifetime is how long a development client certificate is valid.
const ClientCertLifetime = 365 * 24 * time.Hour

// ClientCertificate is the development client certificate.
type ClientCertificate struct {
	CertFile, KeyFile string
	Leaf              *x509.Certificate
}

// Thumbprint is the certificate's x5t#S256 (RFC 8705 §3.1): base64url of
// the SHA-256 of its DER.
func (c ClientCertificate) Thumbprint() string {
	sum := sha256.Sum256(c.Leaf.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// OpenClientCertificate returns the development client certificate in
// dir, creating its key (P-256) and a self-signed certificate for it
// (CN dev-mtls-machine, for TLS client authentication) on first use, and
// a new certificate for the same key once it has expired. Both files are
// created atomically, the key private (0600), as the DPoP key is.
func OpenClientCertificate(dir string) (ClientCertificate, error) {
	c := ClientCertificate{CertFile: filepath.Join(dir, ClientCertFile), KeyFile: filepath.Join(dir, ClientKeyFile)}
	key, err := openKeyFile(dir, ClientKeyFile)
	if err != nil {
		return c, err
	}
	switch c.Leaf, err = readCertificate(c.CertFile); {
	case err == nil && time.Now().Before(c.Leaf.NotAfter) && key.PublicKey.Equal(c.Leaf.PublicKey):
		return c, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return c, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return c, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: DefaultMachine + "-mtls"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ClientCertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return c, err
	}
	if err := writeFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return c, err
	}
	c.Leaf, err = readCertificate(c.CertFile)
	return c, err
}

func readCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate; delete the file to get a new one", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; delete the file to get a new one", path, err)
	}
	return cert, nil
}
