package auth0

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/prometheus/client_golang/prometheus"
)

// minRSABits is the smallest RSA modulus accepted from a JWKS (RFC 7518 §3.3).
const minRSABits = 2048

// hmacKeySize is the least shared-secret length for each HMAC algorithm:
// the hash size (RFC 7518 §3.2).
var hmacKeySize = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// keySource holds one issuer's current signing keys and is the
// jwkset.Storage that keyfunc reads.
//
// For a remote issuer one goroutine (run) fetches: at start, every
// RefreshInterval, with back-off after failures, and when a request asks
// for it because a token names an unknown key. Requests never fetch
// themselves; they ask and wait at most MaxWait. A failed fetch, or a JWKS
// with no usable key, leaves the last good keys in place. A fixed source
// (the static provider) holds the keys it was given and never fetches.
type keySource struct {
	*jwkset.MemoryJWKSet // the last good keys

	cfg   *Config
	log   *slog.Logger
	base  string // the issuer URL discovery starts from
	fixed bool   // keys given at start; never fetched

	kick    chan struct{} // asks run for a fetch now
	stopped chan struct{} // closed when run returns

	mu        sync.Mutex
	inflight  chan struct{} // closed when the current or requested fetch ends
	lastStart time.Time     // when the last fetch started

	loaded   atomic.Bool
	loadedAt atomic.Int64           // unix nanoseconds of the last good fetch
	issuer   atomic.Pointer[string] // the "iss" tokens must carry

	// removed, if set, is told the kids that left the key set.
	removed func(kids map[string]bool)

	fetches   *prometheus.CounterVec // by result
	keysCount atomic.Int64

	jwksConfigured bool // jwksURI was given, not discovered

	// Owned by the run goroutine.
	jwksURI string   // configured, or found by discovery
	kids    []string // of the current key set, to log changes
}

// newKeySource returns the source of issuer's keys: from jwksURI, or from
// the JWKS its discovery document names when jwksURI is "". Call run to
// start fetching.
func newKeySource(cfg *Config, log *slog.Logger, issuer, jwksURI string) *keySource {
	s := &keySource{
		MemoryJWKSet: jwkset.NewMemoryStorage(),
		cfg:          cfg,
		log:          log,
		base:         issuer,
		kick:         make(chan struct{}, 1),
		stopped:      make(chan struct{}),
		jwksURI:      jwksURI,

		jwksConfigured: jwksURI != "",
	}
	s.issuer.Store(&issuer)
	return s
}

// newFixedKeySource returns a source holding keys for issuer, forever.
func newFixedKeySource(cfg *Config, log *slog.Logger, issuer string, keys []jwkset.JWK) *keySource {
	s := newKeySource(cfg, log, issuer, "")
	s.fixed = true
	_ = s.KeyReplaceAll(context.Background(), keys)
	s.keysCount.Store(int64(len(keys)))
	s.loadedAt.Store(cfg.Now().UnixNano())
	s.loaded.Store(true)
	close(s.stopped)
	return s
}

// KeyRead returns the key with ID kid. For an unknown kid it asks for a
// fetch (at most one per UnknownKeyCooldown) and looks again.
func (s *keySource) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	k, err := s.MemoryJWKSet.KeyRead(ctx, kid)
	if errors.Is(err, jwkset.ErrKeyNotFound) && s.refresh(ctx) {
		k, err = s.MemoryJWKSet.KeyRead(ctx, kid)
	}
	return k, err
}

// ready reports whether keys have been loaded at least once. When they have
// not, it asks for a fetch and waits for it (within the cooldown and MaxWait).
func (s *keySource) ready(ctx context.Context) bool {
	if s.loaded.Load() {
		return true
	}
	s.refresh(ctx)
	return s.loaded.Load()
}

// refresh asks run for a fetch, or joins the one under way, and waits for it
// to end. It returns false without waiting when the last fetch started less
// than UnknownKeyCooldown ago, and false when ctx or MaxWait ends first.
func (s *keySource) refresh(ctx context.Context) bool {
	if s.fixed {
		return false
	}
	s.mu.Lock()
	ch := s.inflight
	if ch == nil {
		if s.cfg.Now().Sub(s.lastStart) < s.cfg.UnknownKeyCooldown {
			s.mu.Unlock()
			return false
		}
		ch = make(chan struct{})
		s.inflight = ch
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()

	timer := time.NewTimer(s.cfg.MaxWait)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
	case <-timer.C:
	case <-s.stopped:
	}
	return false
}

// run fetches keys until ctx ends.
func (s *keySource) run(ctx context.Context) {
	defer close(s.stopped)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.kick:
		}
		next := s.cfg.RefreshInterval
		if err := s.fetch(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			next = min(time.Second<<min(failures-1, 10), s.cfg.RetryMax)
			s.log.Warn("auth0: fetching signing keys failed; keeping the last good keys",
				"error", err, "keys_loaded", s.loaded.Load(), "retry_in", next.String())
		} else {
			failures = 0
		}
		timer.Reset(next)
	}
}

// fetch runs one fetch and wakes everyone waiting for it.
func (s *keySource) fetch(ctx context.Context) error {
	s.mu.Lock()
	if s.inflight == nil {
		s.inflight = make(chan struct{})
	}
	ch := s.inflight
	s.lastStart = s.cfg.Now()
	select { // a request's ask is answered by this fetch
	case <-s.kick:
	default:
	}
	s.mu.Unlock()

	err := s.load(ctx)
	if s.fetches != nil {
		result := "ok"
		if err != nil {
			result = "error"
		}
		s.fetches.WithLabelValues(result).Inc()
	}

	s.mu.Lock()
	s.inflight = nil
	s.mu.Unlock()
	close(ch)
	return err
}

// load discovers the JWKS URI if needed, fetches the key set and, if it has
// usable keys, makes it current.
func (s *keySource) load(ctx context.Context) error {
	if s.jwksURI == "" {
		md, err := discover(ctx, s.cfg.HTTPClient, s.base)
		if err != nil {
			return err
		}
		s.jwksURI = md.JWKSURI
		s.issuer.Store(&md.Issuer)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, s.cfg.HTTPClient, s.jwksURI, &doc); err != nil {
		if !s.jwksConfigured {
			s.jwksURI = "" // discover again next time: the JWKS may have moved
		}
		return fmt.Errorf("jwks: %w", err)
	}
	var keys []jwkset.JWK
	var skipped []string
	for i, raw := range doc.Keys {
		k, err := parseKey(raw, s.cfg.Algorithms)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return fmt.Errorf("jwks %s: no usable signing key for %v among %d keys %v", s.jwksURI, s.cfg.Algorithms, len(doc.Keys), skipped)
	}
	if err := s.KeyReplaceAll(ctx, keys); err != nil {
		return fmt.Errorf("jwks: storing keys: %w", err)
	}
	s.loadedAt.Store(s.cfg.Now().UnixNano())
	s.loaded.Store(true)

	s.keysCount.Store(int64(len(keys)))

	kids := make([]string, len(keys))
	for i, k := range keys {
		kids[i] = k.Marshal().KID
	}
	if !slices.Equal(kids, s.kids) {
		gone := map[string]bool{}
		for _, kid := range s.kids {
			if !slices.Contains(kids, kid) {
				gone[kid] = true
			}
		}
		if len(gone) > 0 && s.removed != nil {
			s.removed(gone)
		}
		s.kids = kids
		s.log.Info("auth0: signing keys loaded", "jwks_uri", s.jwksURI, "kids", kids, "skipped", skipped)
	}
	return nil
}

// parseKey turns one JWKS entry into a verification key, or says why the
// entry is ignored: symmetric or unknown key types, keys not for signatures,
// RSA keys under 2048 bits, and keys none of algs can use.
func parseKey(raw json.RawMessage, algs []string) (jwkset.JWK, error) {
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		return jwkset.JWK{}, fmt.Errorf("not a JWK: %w", err)
	}
	switch m.KTY {
	case jwkset.KtyRSA, jwkset.KtyEC, jwkset.KtyOKP:
	default:
		return jwkset.JWK{}, fmt.Errorf("kid %q: key type %q not accepted (only RSA, EC and OKP public keys)", m.KID, m.KTY)
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		return jwkset.JWK{}, fmt.Errorf("kid %q: use %q is not sig", m.KID, m.USE)
	}
	if len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return jwkset.JWK{}, fmt.Errorf("kid %q: key_ops %v do not include verify", m.KID, m.KEYOPS)
	}
	for _, op := range m.KEYOPS {
		switch op {
		case jwkset.KeyOpsEncrypt, jwkset.KeyOpsDecrypt, jwkset.KeyOpsWrapKey, jwkset.KeyOpsUnwrapKey,
			jwkset.KeyOpsDeriveKey, jwkset.KeyOpsDeriveBits:
			return jwkset.JWK{}, fmt.Errorf("kid %q: key_ops %v include encryption", m.KID, m.KEYOPS)
		}
	}
	if m.ALG != "" && !slices.Contains(algs, string(m.ALG)) {
		return jwkset.JWK{}, fmt.Errorf("kid %q: alg %q is not an allowed algorithm", m.KID, m.ALG)
	}
	// Certificates are not used: keys come from the JWKS itself. Dropping
	// them also drops private parameters' companions and any x5u fetch.
	m.X5C, m.X5T, m.X5TS256, m.X5U = nil, "", "", ""
	m.D, m.P, m.Q, m.DP, m.DQ, m.QI, m.OTH, m.K = "", "", "", "", "", "", nil, ""

	k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return jwkset.JWK{}, fmt.Errorf("kid %q: %w", m.KID, err)
	}
	usable := false
	for _, alg := range algs {
		if m.ALG != "" && string(m.ALG) != alg {
			continue
		}
		if keyFits(alg, k.Key()) {
			usable = true
			break
		}
	}
	if !usable {
		return jwkset.JWK{}, fmt.Errorf("kid %q: no allowed algorithm %v can use this %s key (RSA keys need %d bits)", m.KID, algs, m.KTY, minRSABits)
	}
	return k, nil
}

// keyFits reports whether key can verify signatures made with alg: the
// key type matches the algorithm family, EC curves match exactly, and RSA
// keys have at least minRSABits.
func keyFits(alg string, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return k.N != nil && k.N.BitLen() >= minRSABits
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize
	case []byte: // the hs256 provider's shared secret
		size := hmacKeySize[alg]
		return size > 0 && len(k) >= size
	}
	return false
}
