package devissuer

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// MaxTokenTTL is the longest lifetime of a token the issuer signs; a
// rotated-out key stays published this long so its tokens keep working.
const MaxTokenTTL = 24 * time.Hour

// Keys are the issuer's RSA signing keys, kept in dir/keys.json (mode 0600)
// so tokens survive restarts. The last key signs; older keys are published
// until their retire time. Changes made by another process (the
// rotate-dev-keys command) are picked up on next use.
type Keys struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	modTime time.Time
	keys    []*signingKey
}

type signingKey struct {
	KID         string          `json:"kid"`
	Created     time.Time       `json:"created"`
	RetireAfter *time.Time      `json:"retire_after,omitempty"`
	PEM         string          `json:"private_key_pem"`
	private     *rsa.PrivateKey `json:"-"`
}

// OpenKeys loads dir/keys.json, generating a first key if there is none.
func OpenKeys(dir string, now func() time.Time) (*Keys, error) {
	if now == nil {
		now = time.Now
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	k := &Keys{path: filepath.Join(dir, "keys.json"), now: now}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return nil, err
	}
	if k.keys == nil { // no file yet
		key, err := newSigningKey(now())
		if err != nil {
			return nil, err
		}
		b, err := k.encode([]*signingKey{key})
		if err != nil {
			return nil, err
		}
		switch err := createFile(k.path, b); {
		case errors.Is(err, os.ErrExist):
			// Another process (the server, or api token) created the first
			// key at the same moment: use that one, so both agree.
		case err != nil:
			return nil, err
		}
		if err := k.reload(); err != nil {
			return nil, err
		}
	}
	if len(k.live(now())) == 0 {
		return nil, fmt.Errorf(`%s: no signing key in use ("keys" is empty, or every key is retired); delete the file to generate a new key (tokens signed with the old keys stop working)`, k.path)
	}
	return k, nil
}

// reload reads the file if it changed since the last read.
func (k *Keys) reload() error {
	fi, err := os.Stat(k.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: mode %v lets others read the private keys; run chmod 600 %s", k.path, fi.Mode().Perm(), k.path)
	}
	if fi.ModTime().Equal(k.modTime) && k.keys != nil {
		return nil
	}
	b, err := os.ReadFile(k.path)
	if err != nil {
		return err
	}
	var file struct {
		Keys []*signingKey `json:"keys"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return fmt.Errorf("%s: %w", k.path, err)
	}
	for i, sk := range file.Keys {
		if sk == nil {
			return fmt.Errorf("%s: key %d is null", k.path, i)
		}
		block, _ := pem.Decode([]byte(sk.PEM))
		if block == nil {
			return fmt.Errorf("%s: key %s: no PEM block", k.path, sk.KID)
		}
		priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return fmt.Errorf("%s: key %s: %w", k.path, sk.KID, err)
		}
		rsaKey, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("%s: key %s is not RSA", k.path, sk.KID)
		}
		sk.private = rsaKey
	}
	k.keys, k.modTime = file.Keys, fi.ModTime()
	return nil
}

func (k *Keys) encode(keys []*signingKey) ([]byte, error) {
	return json.MarshalIndent(struct {
		Keys []*signingKey `json:"keys"`
	}{keys}, "", "  ")
}

func (k *Keys) save() error {
	b, err := k.encode(k.keys)
	if err != nil {
		return err
	}
	if err := writeFile(k.path, b); err != nil {
		return err
	}
	if fi, err := os.Stat(k.path); err == nil {
		k.modTime = fi.ModTime()
	}
	return nil
}

func newSigningKey(now time.Time) (*signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	// The kid is a thumbprint of the public key, so it is stable and unique.
	sum := sha256.Sum256(x509.MarshalPKCS1PublicKey(&priv.PublicKey))
	return &signingKey{
		KID:     base64.RawURLEncoding.EncodeToString(sum[:12]),
		Created: now.UTC().Truncate(time.Second),
		PEM:     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		private: priv,
	}, nil
}

// Rotate adds a new signing key. The old ones stay published until
// MaxTokenTTL from now, then disappear.
func (k *Keys) Rotate() (newKID string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return "", err
	}
	now := k.now()
	retire := now.Add(MaxTokenTTL).UTC().Truncate(time.Second)
	for _, sk := range k.keys {
		if sk.RetireAfter == nil {
			sk.RetireAfter = &retire
		}
	}
	key, err := newSigningKey(now)
	if err != nil {
		return "", err
	}
	k.keys = append(k.live(now), key)
	return key.KID, k.save()
}

// live returns the keys not yet retired.
func (k *Keys) live(now time.Time) []*signingKey {
	var out []*signingKey
	for _, sk := range k.keys {
		if sk.RetireAfter == nil || now.Before(*sk.RetireAfter) {
			out = append(out, sk)
		}
	}
	return out
}

// signer returns the current signing key.
func (k *Keys) signer() (*signingKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return nil, err
	}
	live := k.live(k.now())
	if len(live) == 0 {
		return nil, errors.New("no signing key")
	}
	return live[len(live)-1], nil
}

// JWKS returns the public keys that are still published.
func (k *Keys) JWKS() ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return nil, err
	}
	type jwk struct {
		Kty string `json:"kty"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		KID string `json:"kid"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, sk := range k.live(k.now()) {
		pub := sk.private.PublicKey
		set.Keys = append(set.Keys, jwk{
			Kty: "RSA", Use: "sig", Alg: "RS256", KID: sk.KID,
			N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	return json.Marshal(set)
}
