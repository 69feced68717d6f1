package jwtverify

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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// minRSABits is the smallest RSA modulus accepted from a JWKS (RFC 7518 §3.3).
const minRSABits = 2048

// keySource holds one issuer's current signing keys and is the
// jwkset.Storage that keyfunc reads.
//
// For a remote issuer one goroutine (run) fetches: at start, every
// RefreshInterval, with back-off after failures, and when a request asks
// for it because a token names an unknown key. Requests never fetch
// themselves; they ask and wait at most MaxWait. A failed fetch, or a JWKS
// with no usable key, leaves the last good keys in place. A fixed source
// (keys given by the provider) holds the keys it was given and never fetches.
type keySource struct {
	*jwkset.MemoryJWKSet // the last good keys

	opts  *Options
	log   *slog.Logger
	base  string // the issuer URL discovery starts from
	fixed bool   // keys given at start; never fetched

	kick    chan struct{} // asks run for a fetch now
	stopped chan struct{} // closed when run returns

	mu        sync.Mutex
	inflight  chan struct{} // closed when the current or requested fetch ends
	lastStart time.Time     // when the last fetch started
	askers    []trace.Link  // with a tracer: the requests waiting for the next fetch

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
func newKeySource(opts *Options, log *slog.Logger, issuer, jwksURI string) *keySource {
	s := &keySource{
		MemoryJWKSet: jwkset.NewMemoryStorage(),
		opts:         opts,
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
func newFixedKeySource(opts *Options, log *slog.Logger, issuer string, keys []jwkset.JWK) *keySource {
	s := newKeySource(opts, log, issuer, "")
	s.fixed = true
	_ = s.KeyReplaceAll(context.Background(), keys)
	s.keysCount.Store(int64(len(keys)))
	s.loadedAt.Store(opts.Now().UnixNano())
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
	if s.opts.Tracer != nil && len(s.askers) < maxFetchLinks {
		if link, ok := askedForKeys(ctx); ok {
			s.askers = append(s.askers, link)
		}
	}
	if ch == nil {
		if s.opts.Now().Sub(s.lastStart) < s.opts.UnknownKeyCooldown {
			s.askers = s.askers[:0]
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

	timer := time.NewTimer(s.opts.MaxWait)
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
	trigger := "start"
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.kick:
			trigger = "requested"
		}
		next := s.opts.RefreshInterval
		if err := s.fetch(ctx, trigger); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			next = min(time.Second<<min(failures-1, 10), s.opts.RetryMax)
			s.log.Warn("fetching signing keys failed; keeping the last good keys",
				"issuer", s.base, "error", err, "keys_loaded", s.loaded.Load(), "retry_in", next.String())
		} else {
			failures = 0
		}
		trigger = "scheduled"
		if failures > 0 {
			trigger = "retry"
		}
		timer.Reset(next)
	}
}

// fetch runs one fetch and wakes everyone waiting for it. trigger says
// why it runs, for its span.
func (s *keySource) fetch(ctx context.Context, trigger string) error {
	s.mu.Lock()
	if s.inflight == nil {
		s.inflight = make(chan struct{})
	}
	ch := s.inflight
	s.lastStart = s.opts.Now()
	select { // a request's ask is answered by this fetch
	case <-s.kick:
	default:
	}
	var links []trace.Link
	if len(s.askers) > 0 {
		links = append(links, s.askers...)
		s.askers = s.askers[:0]
	}
	s.mu.Unlock()

	var span trace.Span
	if s.opts.Tracer != nil {
		ctx, span = s.startFetchSpan(ctx, trigger, links)
	}
	err := s.load(ctx)
	if span != nil {
		s.endFetchSpan(span, err)
	}
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
		md, err := discover(ctx, s.opts.HTTPClient, s.base, s.opts.Tracer)
		if err != nil {
			return err
		}
		s.jwksURI = md.JWKSURI
		s.issuer.Store(&md.Issuer)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, s.opts.HTTPClient, s.jwksURI, &doc, s.opts.Tracer); err != nil {
		if !s.jwksConfigured {
			s.jwksURI = "" // discover again next time: the JWKS may have moved
		}
		return fmt.Errorf("jwks: %w", err)
	}
	var keys []jwkset.JWK
	var skipped []string
	for i, raw := range doc.Keys {
		k, err := parseKey(raw, s.opts.Algorithms)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return fmt.Errorf("jwks %s: no usable signing key for %v among %d keys %v", s.jwksURI, s.opts.Algorithms, len(doc.Keys), skipped)
	}
	if err := s.KeyReplaceAll(ctx, keys); err != nil {
		return fmt.Errorf("jwks: storing keys: %w", err)
	}
	s.loadedAt.Store(s.opts.Now().UnixNano())
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
		s.log.Info("signing keys loaded", "issuer", s.base, "jwks_uri", s.jwksURI, "kids", kids, "skipped", skipped)
	}
	return nil
}

// parseKey turns one JWKS entry into a verification key, or says why the
// entry is ignored: symmetric or unknown key types, private keys, keys not
// for signatures, and keys none of algs can use (RSA keys under 2048 bits
// among them).
func parseKey(raw json.RawMessage, algs []string) (jwkset.JWK, error) {
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		return jwkset.JWK{}, fmt.Errorf("not a JWK: %w", err)
	}
	if err := exactMemberNames(raw); err != nil {
		return jwkset.JWK{}, fmt.Errorf("kid %q: %w", m.KID, err)
	}
	switch m.KTY {
	case jwkset.KtyRSA, jwkset.KtyEC, jwkset.KtyOKP:
	default:
		return jwkset.JWK{}, fmt.Errorf("kid %q: key type %q not accepted (only RSA, EC and OKP public keys)", m.KID, m.KTY)
	}
	// RFC 7517 §9.2: a key set published for verification holds public
	// keys; a private key in it is no longer secret, and anyone could
	// sign tokens with it.
	if m.D != "" || m.P != "" || m.Q != "" || m.DP != "" || m.DQ != "" || m.QI != "" || m.OTH != nil || m.K != "" {
		return jwkset.JWK{}, fmt.Errorf("kid %q: holds private key members (d, p, q, dp, dq, qi, oth or k): a published private key lets anyone sign tokens", m.KID)
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
	jwkAlg := string(m.ALG)
	if jwkAlg != "" && !slices.Contains(algs, jwkAlg) && !(isEdDSA(jwkAlg) && slices.ContainsFunc(algs, isEdDSA)) {
		return jwkset.JWK{}, fmt.Errorf("kid %q: alg %q is not an allowed algorithm", m.KID, m.ALG)
	}
	// Certificates are not used: keys come from the JWKS itself. Dropping
	// them also drops any x5u fetch.
	m.X5C, m.X5T, m.X5TS256, m.X5U = nil, "", "", ""
	// "EdDSA" and RFC 9864's "Ed25519" name the same algorithm for an
	// Ed25519 key: keyFits pins such a key to exactly those two, so its
	// JWK alg is dropped for keyfunc's exact comparison with the token's.
	if m.KTY == jwkset.KtyOKP && isEdDSA(jwkAlg) {
		m.ALG = ""
	}

	k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return jwkset.JWK{}, fmt.Errorf("kid %q: %w", m.KID, err)
	}
	for _, alg := range algs {
		if jwkAlg != "" && jwkAlg != alg && !(isEdDSA(jwkAlg) && isEdDSA(alg)) {
			continue
		}
		if keyFits(alg, k.Key()) {
			return k, nil
		}
	}
	return jwkset.JWK{}, fmt.Errorf("kid %q: %s", m.KID, unfit(k.Key(), jwkAlg, algs))
}

// jwkMembers are the JWK members JWKMarshal reads.
var jwkMembers = []string{"kty", "use", "key_ops", "alg", "kid", "x5u", "x5c", "x5t", "x5t#S256",
	"crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi", "oth", "k"}

// exactMemberNames refuses a JWK with a member whose name differs from a
// JWK member's only in case ("KTY", "Use"). JWK member names are
// case-sensitive (RFC 7517 §4), but encoding/json matches struct fields
// case-insensitively, so {"use":"enc","USE":"sig"} would read as a
// signing key here and as an encryption key everywhere else.
func exactMemberNames(raw json.RawMessage) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return fmt.Errorf("not a JWK: %w", err)
	}
	for name := range members {
		for _, known := range jwkMembers {
			if name != known && strings.EqualFold(name, known) {
				return fmt.Errorf("member %q: JWK member names are case-sensitive (%q?)", name, known)
			}
		}
	}
	return nil
}

// isEdDSA reports whether alg names EdDSA with Ed25519: "EdDSA" or
// RFC 9864's "Ed25519".
func isEdDSA(alg string) bool { return alg == "EdDSA" || alg == "Ed25519" }

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
		return isEdDSA(alg) && len(k) == ed25519.PublicKeySize
	case []byte: // a shared secret
		size := hmacKeySize[alg]
		return size > 0 && len(k) >= size
	}
	return false
}

// unfit says what keeps key from verifying any of algs (keyFits is false
// for each), for the log line of a skipped key.
func unfit(key any, jwkAlg string, algs []string) string {
	var fits []string // what the key could verify
	switch k := key.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return fmt.Sprintf("RSA key of %d bits: at least %d are needed", bits, minRSABits)
		}
		fits = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			fits = []string{"ES256"}
		case elliptic.P384():
			fits = []string{"ES384"}
		case elliptic.P521():
			fits = []string{"ES512"}
		default:
			return fmt.Sprintf("EC key on curve %s: only P-256, P-384 and P-521 are accepted", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		fits = []string{"EdDSA", "Ed25519"}
	default:
		return fmt.Sprintf("a %T key verifies none of the accepted algorithms", key)
	}
	if jwkAlg != "" && !slices.Contains(fits, jwkAlg) {
		return fmt.Sprintf("its alg %s does not fit its key type, which verifies only %s", jwkAlg, strings.Join(fits, ", "))
	}
	return fmt.Sprintf("this key verifies only %s, and the allowed algorithms are %s", strings.Join(fits, ", "), strings.Join(algs, ", "))
}
