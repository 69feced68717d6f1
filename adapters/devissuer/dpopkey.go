package devissuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DPoPKeyFile is where the development DPoP key is kept in the dev
// directory: the client key `api token -dpop` binds tokens to and `api
// proof` signs with.
const DPoPKeyFile = "dpop-key.pem"

// OpenDPoPKey returns the development DPoP key (P-256, for ES256) in
// dir/dpop-key.pem, creating it on first use. The file is private (0600)
// and created atomically, so two commands starting together end up with
// the same key; one that others may read is refused, as keys.json is.
func OpenDPoPKey(dir string) (*ecdsa.PrivateKey, error) {
	return openKeyFile(dir, DPoPKeyFile)
}

// openKeyFile returns the P-256 key in dir/name, creating it on first use
// (see OpenDPoPKey).
func openKeyFile(dir, name string) (*ecdsa.PrivateKey, error) {
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		// Another process may create it at the same moment: then its key wins.
		if err := createFile(path, b); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %v lets others read the private key; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block; delete the file to get a new key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: not a P-256 key; delete the file to get a new key", path)
	}
	return key, nil
}
