package devissuer_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/devissuer"
)

// The development client certificate is made once and reused; without
// its certificate file the same key gets a new certificate; a file that
// is not a certificate is refused, naming it.
func TestClientCertificate(t *testing.T) {
	dir := t.TempDir()
	first, err := devissuer.OpenClientCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Leaf.ExtKeyUsage) != 1 || first.Leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("extended key usage: got %v, want client authentication", first.Leaf.ExtKeyUsage)
	}
	if err := first.Leaf.CheckSignature(first.Leaf.SignatureAlgorithm, first.Leaf.RawTBSCertificate, first.Leaf.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	again, err := devissuer.OpenClientCertificate(dir)
	if err != nil || again.Thumbprint() != first.Thumbprint() {
		t.Fatalf("second open: got %v, %v; want the same certificate", again.Thumbprint(), err)
	}
	if len(first.Thumbprint()) != 43 {
		t.Errorf("thumbprint %q: want 43 base64url characters", first.Thumbprint())
	}
	os.Remove(first.CertFile)
	renewed, err := devissuer.OpenClientCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Thumbprint() == first.Thumbprint() || !renewed.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(first.Leaf.PublicKey) {
		t.Errorf("without its certificate file: want a new certificate for the same key")
	}
	if err := os.WriteFile(filepath.Join(dir, devissuer.ClientCertFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := devissuer.OpenClientCertificate(dir); err == nil || !strings.Contains(err.Error(), devissuer.ClientCertFile) {
		t.Errorf("a file that is not a certificate: got %v, want an error naming it", err)
	}
}
