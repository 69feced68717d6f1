package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/example/spaapi/domain"
)

// Nonces makes and checks server-provided DPoP nonces (RFC 9449 §8) with
// no shared state: a nonce is the number of a time window and an
// HMAC-SHA256 of that number under a secret every instance shares, so
// every instance makes the same nonce in the same window and accepts the
// others'. A nonce is accepted in its window and the next one; clocks of
// instances should agree to well within a window (NTP does).
//
// A nonce is base64url of 24 bytes: the window number (8 bytes, big
// endian) and the first 16 bytes of HMAC-SHA256(secret, label ‖ number).
type Nonces struct {
	secret []byte
	window time.Duration
	now    func() time.Time
	cur    atomic.Pointer[windowNonce] // cached for the current window
}

type windowNonce struct {
	n     int64
	nonce string
}

const (
	nonceMACBytes = 16
	nonceBytes    = 8 + nonceMACBytes
	nonceLen      = (nonceBytes*8 + 5) / 6 // base64url without padding: 32
	nonceLabel    = "spaapi dpop nonce v1\x00"
)

// NewNonces returns nonces under secret (at least MinNonceSecretBytes
// bytes) that change every window (1s to 1h); now is the clock (nil means
// time.Now).
func NewNonces(secret []byte, window time.Duration, now func() time.Time) (*Nonces, error) {
	if len(secret) < MinNonceSecretBytes {
		return nil, fmt.Errorf("dpop: nonce secret of %d bytes is too short (at least %d)", len(secret), MinNonceSecretBytes)
	}
	if window < time.Second || window > time.Hour {
		return nil, fmt.Errorf("dpop: nonce window %v out of range (1s to 1h)", window)
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{secret: append([]byte(nil), secret...), window: window, now: now}, nil
}

// windowAt returns the number of the window t is in.
func (n *Nonces) windowAt(t time.Time) int64 {
	return t.UnixNano() / int64(n.window)
}

// Current returns the nonce of the current window: the value of the
// DPoP-Nonce header.
func (n *Nonces) Current() string {
	w := n.windowAt(n.now())
	if c := n.cur.Load(); c != nil && c.n == w {
		return c.nonce
	}
	c := &windowNonce{w, n.make(w)}
	n.cur.Store(c)
	return c.nonce
}

func (n *Nonces) make(w int64) string {
	var b [nonceBytes]byte
	binary.BigEndian.PutUint64(b[:8], uint64(w))
	copy(b[8:], n.mac(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (n *Nonces) mac(window []byte) []byte {
	h := hmac.New(sha256.New, n.secret)
	h.Write([]byte(nonceLabel))
	h.Write(window)
	return h.Sum(nil)[:nonceMACBytes]
}

// Check accepts a nonce of the current or the previous window. Otherwise
// it returns a *domain.ProofError (use_dpop_nonce): ProofNonceMissing for
// "", ProofNonceStale for a nonce of ours from another window,
// ProofNonceInvalid for anything else. MACs are compared in constant time.
func (n *Nonces) Check(nonce string) error {
	if nonce == "" {
		return domain.InvalidProof(domain.ProofNonceMissing, "nonce", nil)
	}
	var b [nonceBytes]byte
	if len(nonce) != nonceLen {
		return domain.InvalidProof(domain.ProofNonceInvalid, "nonce", errors.New("wrong length"))
	}
	if m, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(nonce)); err != nil || m != nonceBytes {
		return domain.InvalidProof(domain.ProofNonceInvalid, "nonce", errors.New("not base64url"))
	}
	if !hmac.Equal(b[8:], n.mac(b[:8])) {
		return domain.InvalidProof(domain.ProofNonceInvalid, "nonce", errors.New("MAC does not match"))
	}
	w, cur := int64(binary.BigEndian.Uint64(b[:8])), n.windowAt(n.now())
	if w != cur && w != cur-1 {
		return domain.InvalidProof(domain.ProofNonceStale, "nonce", fmt.Errorf("window %d, now %d", w, cur))
	}
	return nil
}
