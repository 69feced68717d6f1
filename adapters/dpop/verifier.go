package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.ProofVerifier      = (*Verifier)(nil)
	_ ports.TokenRequestProofs = (*Verifier)(nil)
)

// Verifier checks DPoP proofs. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	algs   map[string]*algorithm
	replay ports.ReplayCache
	nonces *Nonces // nil: nonces off

	headersMu sync.RWMutex
	headers   map[string]cachedHeader // accepted headers, by their base64url

	signatureChecks atomic.Uint64 // for tests: checks run in the right order
}

// maxCachedHeaders bounds the accepted-header cache: one entry per client
// key in use, at most about 800 bytes each (a 4096-bit RSA key's header).
const maxCachedHeaders = 4096

type cachedHeader struct {
	alg *algorithm
	key proofKey
}

// New returns a verifier for cfg (start from DefaultConfig) that records
// jtis in replay. A bad cfg is an error saying what is wrong.
func New(cfg Config, replay ports.ReplayCache) (*Verifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	if replay == nil {
		return nil, errors.New("dpop: a replay cache is required")
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	v := &Verifier{cfg: cfg, algs: map[string]*algorithm{}, replay: replay, headers: map[string]cachedHeader{}}
	for _, name := range cfg.Algorithms {
		v.algs[name] = algorithms[name]
	}
	if cfg.NonceSecret != nil {
		n, err := NewNonces(cfg.NonceSecret, cfg.NonceWindow, cfg.Now)
		if err != nil {
			return nil, err
		}
		v.nonces = n
	}
	return v, nil
}

// Algorithms implements ports.ProofVerifier.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.cfg.Algorithms) }

// Nonce implements ports.ProofVerifier: the current nonce, or "" when
// nonces are off.
func (v *Verifier) Nonce() string {
	if v.nonces == nil {
		return ""
	}
	return v.nonces.Current()
}

// proofClaims are a proof's claims, read by exact name.
type proofClaims struct {
	jti, htm, htu, ath, nonce string
	iat                       float64
}

// parsedProof is a proof whose form, header, key and claims have been read
// and checked; its signature has not been verified yet.
type parsedProof struct {
	alg    *algorithm
	key    proofKey
	claims proofClaims
	input  string // the signing input: header and payload, as received
	sig    []byte
}

// VerifyProof implements ports.ProofVerifier. Every check that costs no
// signature verification comes first, so that a proof that cannot be
// accepted with this request and token costs about what parsing it does,
// whatever key signed it. The checks, in order (the first failure is the
// answer):
//
//  1. exactly one DPoP header (else invalid_request), not empty, at most
//     MaxProofBytes long;
//  2. compact JWS: three non-empty base64url segments, no padding, JSON
//     objects in header and payload;
//  3. header: "typ" exactly dpop+jwt, "alg" one of Config.Algorithms, no
//     "crit", "jwk" a public key fit for "alg" (RSA: 2048 to 4096 bits,
//     exponent at most 65537; EC: the algorithm's curve, a point on it);
//  4. claims present, of their types;
//  5. the access token is bound to the key: req.JKT equals the key's RFC
//     7638 thumbprint (else invalid_token);
//  6. claims: "jti" (a string of at most MaxJTIBytes), "htm" equal to the
//     method, "htu" equal to req.URL after normalisation (query and
//     fragment ignored), "iat" within [now-IATOffset, now+IATLeeway],
//     "ath" equal to base64url(SHA-256(access token));
//  7. the nonce, when nonces are on (else use_dpop_nonce);
//  8. the signature verifies with the proof's key;
//  9. the jti has not been seen with this key within the proof's window,
//     and the key and the token are within their shares of the replay
//     cache (see ports.ReplayCache: dpop_replayed, dpop_too_many_for_key,
//     dpop_too_many_for_token; a store that cannot answer:
//     dpop_unavailable, wrapping domain.ErrUnavailable).
func (v *Verifier) VerifyProof(ctx context.Context, req ports.ProofRequest) error {
	if v.cfg.Tracer != nil {
		return v.verifyTraced(ctx, req)
	}
	p, err := v.check(req, true)
	if err != nil {
		return err
	}
	return v.accept(ctx, p, p.claims.ath) // the token's hash: checkClaims compared them
}

// CheckTokenRequestProof implements ports.TokenRequestProofs: the checks
// of VerifyProof up to the nonce (steps 1 to 7), for a proof sent to a
// token endpoint (RFC 9449 §5), where there is no access token yet, so
// neither "ath" nor a binding is checked (req.AccessToken and req.JKT are
// ignored). The proof's Accept verifies its signature and records its jti.
func (v *Verifier) CheckTokenRequestProof(req ports.ProofRequest) (ports.TokenRequestProof, error) {
	p, err := v.check(req, false)
	if err != nil {
		return nil, err
	}
	return &tokenRequestProof{v: v, p: p}, nil
}

// tokenRequestProof is a ports.TokenRequestProof: a proof that passed
// the checks that need no signature verification.
type tokenRequestProof struct {
	v *Verifier
	p parsedProof
}

func (t *tokenRequestProof) JKT() string { return t.p.key.jkt }

func (t *tokenRequestProof) Accept(ctx context.Context) error { return t.v.accept(ctx, t.p, "") }

// check runs every check of req's proof but the signature and the replay
// cache (steps 1 to 7), with an access token or, at a token endpoint,
// without.
func (v *Verifier) check(req ports.ProofRequest, withToken bool) (parsedProof, error) {
	switch len(req.Proofs) {
	case 0:
		return parsedProof{}, domain.InvalidProof(domain.ProofMissing, "", nil)
	case 1:
	default:
		return parsedProof{}, domain.InvalidProof(domain.ProofMultiple, "", nil)
	}
	proof := req.Proofs[0]
	if proof == "" {
		return parsedProof{}, domain.InvalidProof(domain.ProofMissing, "", nil)
	}
	if len(proof) > v.cfg.MaxProofBytes {
		return parsedProof{}, domain.InvalidProof(domain.ProofTooLarge, "", fmt.Errorf("%d bytes", len(proof)))
	}
	p, err := v.parse(proof, withToken)
	if err != nil {
		return p, err
	}
	if withToken {
		if err := bound(req.JKT, p.key.jkt); err != nil {
			return p, err
		}
	}
	if err := v.checkClaims(req, p.claims, withToken); err != nil {
		return p, err
	}
	if v.nonces != nil {
		if err := v.nonces.Check(p.claims.nonce); err != nil {
			return p, err
		}
	}
	return p, nil
}

// bound checks that a token bound to tokenJKT (its cnf.jkt, "" for none)
// may be used with a proof by the key whose thumbprint is proofJKT.
func bound(tokenJKT, proofJKT string) error {
	if tokenJKT == "" {
		return domain.InvalidProof(domain.ProofNotBound, "cnf.jkt", nil)
	}
	if tokenJKT != proofJKT {
		return domain.InvalidProof(domain.ProofKeyMismatch, "cnf.jkt", nil)
	}
	return nil
}

// accept verifies p's signature and records its jti, under tokenHash (the
// access token's "ath", "" at a token endpoint) for the token's share
// (steps 8 and 9).
func (v *Verifier) accept(ctx context.Context, p parsedProof, tokenHash string) error {
	if err := v.verifySignature(p); err != nil {
		return err
	}

	// Remember the jti for as long as this proof could be accepted here,
	// plus the leeway for instances whose clocks are behind ours.
	// (checkClaims has put iat within [now-offset, now+leeway].)
	ttl := time.Duration((p.claims.iat-seconds(v.cfg.Now()))*1e9) + v.cfg.IATOffset + v.cfg.IATLeeway
	issued := time.Unix(0, int64(p.claims.iat*1e9))
	first, err := v.replay.FirstSeen(ctx, ports.ReplayKey{
		JKT: p.key.jkt, Token: tokenHash, JTI: p.claims.jti,
		// A proof can be accepted from IATLeeway before its iat on.
		ValidFrom: issued.Add(-v.cfg.IATLeeway),
	}, ttl)
	var pe *domain.ProofError
	switch {
	case errors.As(err, &pe):
		return pe // over a share, or the store restarted
	case err != nil:
		return domain.InvalidProof(domain.ProofUnavailable, "", err)
	case !first:
		return domain.InvalidProof(domain.ProofReplayed, "jti", nil)
	}
	return nil
}

// verifySignature checks p's signature with its key: the one costly step,
// and the only place signatures are checked.
func (v *Verifier) verifySignature(p parsedProof) error {
	v.signatureChecks.Add(1)
	if err := p.alg.method.Verify(p.input, p.sig, p.key.key); err != nil {
		return domain.InvalidProof(domain.ProofSignature, "", err)
	}
	return nil
}

// parse checks the proof's form, header and claims (steps 2 to 4) and
// returns them with the signing input and signature; "ath" is required
// withToken, and read when present otherwise.
func (v *Verifier) parse(proof string, withToken bool) (parsedProof, error) {
	var p parsedProof
	for i := 0; i < len(proof); i++ { // base64url and dots only: no padding, no line breaks
		if !jwsChar[proof[i]] {
			return p, malformed("character outside base64url")
		}
	}
	h64, rest, _ := strings.Cut(proof, ".")
	p64, s64, ok := strings.Cut(rest, ".")
	if !ok || h64 == "" || p64 == "" || s64 == "" || strings.IndexByte(s64, '.') >= 0 {
		return p, malformed("not three non-empty dot-separated segments")
	}
	var err error
	if p.alg, p.key, err = v.header(h64); err != nil {
		return p, err
	}
	payload, err := decodeObject(p64)
	if err != nil {
		return p, malformed("payload: " + err.Error())
	}
	if p.sig, err = base64.RawURLEncoding.Strict().DecodeString(s64); err != nil {
		return p, malformed("signature is not base64url")
	}
	p.input = proof[:len(h64)+1+len(p64)]

	c := &p.claims
	for _, m := range []struct {
		name string
		dst  *string
	}{{"jti", &c.jti}, {"htm", &c.htm}, {"htu", &c.htu}, {"ath", &c.ath}} {
		if _, ok := payload[m.name]; !ok && m.name == "ath" && !withToken {
			continue
		}
		if *m.dst, err = stringParam(payload, m.name, domain.ProofMissingClaim); err != nil {
			return p, err
		}
	}
	if raw, ok := payload["nonce"]; ok {
		if err := json.Unmarshal(raw, &c.nonce); err != nil {
			return p, domain.InvalidProof(domain.ProofClaimType, "nonce", nil)
		}
	}
	raw, ok := payload["iat"]
	if !ok {
		return p, domain.InvalidProof(domain.ProofMissingClaim, "iat", nil)
	}
	// A JSON number (RFC 7519 NumericDate), not a string.
	if c.iat, err = strconv.ParseFloat(string(raw), 64); err != nil || len(raw) == 0 || raw[0] == '"' ||
		math.IsNaN(c.iat) || math.IsInf(c.iat, 0) {
		return p, domain.InvalidProof(domain.ProofClaimType, "iat", nil)
	}
	return p, nil
}

// header checks a proof's header (step 3) and returns its algorithm and
// key. A client sends the same header with every proof, so accepted headers
// are kept, by their exact encoding, in a small cache.
func (v *Verifier) header(h64 string) (*algorithm, proofKey, error) {
	v.headersMu.RLock()
	h, ok := v.headers[h64]
	v.headersMu.RUnlock()
	if ok {
		return h.alg, h.key, nil
	}

	header, err := decodeObject(h64)
	if err != nil {
		return nil, proofKey{}, malformed("header: " + err.Error())
	}
	if typ, err := stringParam(header, "typ", domain.ProofType); err != nil {
		return nil, proofKey{}, err
	} else if typ != "dpop+jwt" {
		return nil, proofKey{}, domain.InvalidProof(domain.ProofType, "typ", nil)
	}
	name, err := stringParam(header, "alg", domain.ProofAlgorithm)
	if err != nil {
		return nil, proofKey{}, err
	}
	alg, ok := v.algs[name]
	if !ok {
		return nil, proofKey{}, domain.InvalidProof(domain.ProofAlgorithm, "alg", fmt.Errorf("alg %.20q not allowed", name))
	}
	if _, ok := header["crit"]; ok {
		return nil, proofKey{}, domain.InvalidProof(domain.ProofCritical, "crit", nil)
	}
	jwk, ok := header["jwk"]
	if !ok {
		return nil, proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", errors.New("no jwk header"))
	}
	key, err := parseJWK(jwk, alg)
	if err != nil {
		return nil, proofKey{}, err
	}

	v.headersMu.Lock()
	if len(v.headers) >= maxCachedHeaders {
		clear(v.headers) // bounded; a flood of distinct keys only costs its senders the uncached path
	}
	v.headers[strings.Clone(h64)] = cachedHeader{alg, key} // not a substring holding the whole proof
	v.headersMu.Unlock()
	return alg, key, nil
}

// checkClaims checks the claims against the request (step 5); "ath" only
// withToken.
func (v *Verifier) checkClaims(req ports.ProofRequest, c proofClaims, withToken bool) error {
	if c.jti == "" || len(c.jti) > v.cfg.MaxJTIBytes {
		return domain.InvalidProof(domain.ProofClaimType, "jti", fmt.Errorf("jti of %d bytes", len(c.jti)))
	}
	if c.htm != req.Method {
		return domain.InvalidProof(domain.ProofMethod, "htm", nil)
	}
	if !sameURL(c.htu, req.URL) {
		return domain.InvalidProof(domain.ProofURL, "htu", nil)
	}
	now := seconds(v.cfg.Now())
	if c.iat < now-v.cfg.IATOffset.Seconds() {
		return domain.InvalidProof(domain.ProofTooOld, "iat", nil)
	}
	if c.iat > now+v.cfg.IATLeeway.Seconds() {
		return domain.InvalidProof(domain.ProofFuture, "iat", nil)
	}
	if withToken && subtle.ConstantTimeCompare([]byte(c.ath), []byte(AccessTokenHash(req.AccessToken))) != 1 {
		return domain.InvalidProof(domain.ProofAccessToken, "ath", nil)
	}
	return nil
}

// sameURL reports whether the htu claim names the request URL want:
// equal after both are normalised. want "" matches nothing.
func sameURL(htu, want string) bool {
	if want == "" {
		return false
	}
	if htu == want {
		return true
	}
	a, err := normalizeURL(htu)
	if err != nil {
		return false
	}
	b, err := normalizeURL(want)
	return err == nil && a == b
}

// seconds returns t in Unix seconds.
func seconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// jwsChar marks the characters of a compact JWS: base64url and ".".
var jwsChar = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") {
		t[c] = true
	}
	return t
}()

// AccessTokenHash returns a proof's expected "ath" for token:
// base64url(SHA-256(token)) (RFC 9449 §4.2).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// decodeObject decodes one base64url segment holding a JSON object, by
// exact member names (encoding/json would match struct fields in any case).
// A name given twice is refused, as in access tokens (RFC 7515 §4 allows
// either that or keeping the last, which another reader of the same proof
// might not do).
func decodeObject(seg string) (map[string]json.RawMessage, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, errors.New("not base64url")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	if err := jwtverify.UniqueMemberNames(b); err != nil {
		return nil, err
	}
	return m, nil
}

// stringParam returns m[name], a string. Missing is reason missing (for
// header parameters, their own reason); another type is ProofClaimType
// for claims and the parameter's reason for header parameters.
func stringParam(m map[string]json.RawMessage, name string, missing domain.ProofReason) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", domain.InvalidProof(missing, name, nil)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		wrong := missing
		if missing == domain.ProofMissingClaim {
			wrong = domain.ProofClaimType
		}
		return "", domain.InvalidProof(wrong, name, nil)
	}
	return s, nil
}

func malformed(why string) error {
	return domain.InvalidProof(domain.ProofMalformed, "", errors.New(why))
}
