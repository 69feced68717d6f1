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
}

// maxCachedHeaders bounds the accepted-header cache: one entry per client
// key in use, at most about 1 KB each (an 8192-bit RSA key's header).
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

// VerifyProof implements ports.ProofVerifier. The checks, in order (the
// first failure is the answer):
//
//  1. exactly one DPoP header (else invalid_request), not empty, at most
//     MaxProofBytes long;
//  2. compact JWS: three non-empty base64url segments, no padding, JSON
//     objects in header and payload;
//  3. header: "typ" exactly dpop+jwt, "alg" one of Config.Algorithms, no
//     "crit", "jwk" a public key fit for "alg" (RSA: 2048 to 8192 bits;
//     EC: the algorithm's curve, a point on it);
//  4. the signature verifies with that key;
//  5. claims: "jti" (a string of at most MaxJTIBytes), "htm" equal to the
//     method, "htu" equal to req.URL after normalisation (query and
//     fragment ignored), "iat" within [now-IATOffset, now+IATLeeway],
//     "ath" equal to base64url(SHA-256(access token));
//  6. the access token is bound to the key: req.JKT equals the key's RFC
//     7638 thumbprint (else invalid_token);
//  7. the nonce, when nonces are on (else use_dpop_nonce);
//  8. the jti has not been seen with this key within the proof's window
//     (replay cache unavailable: dpop_unavailable, wrapping
//     domain.ErrUnavailable).
func (v *Verifier) VerifyProof(ctx context.Context, req ports.ProofRequest) error {
	_, err := v.verify(ctx, req, true)
	return err
}

// VerifyTokenRequestProof implements ports.TokenRequestProofs: a proof
// sent to a token endpoint (RFC 9449 §5), checked as VerifyProof checks
// one, except that there is no access token yet, so neither "ath" nor a
// binding is checked (req.AccessToken and req.JKT are ignored). It returns
// the thumbprint of the proof's key, which the tokens issued are bound to.
func (v *Verifier) VerifyTokenRequestProof(ctx context.Context, req ports.ProofRequest) (string, error) {
	return v.verify(ctx, req, false)
}

// verify checks req (see VerifyProof), with an access token or, at a token
// endpoint, without, and returns the proof key's thumbprint.
func (v *Verifier) verify(ctx context.Context, req ports.ProofRequest, withToken bool) (string, error) {
	switch len(req.Proofs) {
	case 0:
		return "", domain.InvalidProof(domain.ProofMissing, "", nil)
	case 1:
	default:
		return "", domain.InvalidProof(domain.ProofMultiple, "", nil)
	}
	proof := req.Proofs[0]
	if proof == "" {
		return "", domain.InvalidProof(domain.ProofMissing, "", nil)
	}
	if len(proof) > v.cfg.MaxProofBytes {
		return "", domain.InvalidProof(domain.ProofTooLarge, "", fmt.Errorf("%d bytes", len(proof)))
	}

	key, claims, err := v.parse(proof, withToken)
	if err != nil {
		return "", err
	}
	if err := v.checkClaims(req, claims, withToken); err != nil {
		return "", err
	}
	if withToken {
		if req.JKT == "" {
			return "", domain.InvalidProof(domain.ProofNotBound, "cnf.jkt", nil)
		}
		if req.JKT != key.jkt {
			return "", domain.InvalidProof(domain.ProofKeyMismatch, "cnf.jkt", nil)
		}
	}
	if v.nonces != nil {
		if err := v.nonces.Check(claims.nonce); err != nil {
			return "", err
		}
	}

	// Remember the jti for as long as this proof could be accepted here,
	// plus the leeway for instances whose clocks are behind ours.
	// (checkClaims has put iat within [now-offset, now+leeway].)
	ttl := time.Duration((claims.iat-seconds(v.cfg.Now()))*1e9) + v.cfg.IATOffset + v.cfg.IATLeeway
	first, err := v.replay.FirstSeen(ctx, key.jkt+" "+claims.jti, ttl)
	switch {
	case err != nil:
		return "", domain.InvalidProof(domain.ProofUnavailable, "", err)
	case !first:
		return "", domain.InvalidProof(domain.ProofReplayed, "jti", nil)
	}
	return key.jkt, nil
}

// parse checks the proof's form, header and signature (steps 2 to 4) and
// returns its key and claims; "ath" is required withToken, and read when
// present otherwise.
func (v *Verifier) parse(proof string, withToken bool) (proofKey, proofClaims, error) {
	var (
		key    proofKey
		claims proofClaims
	)
	for i := 0; i < len(proof); i++ { // base64url and dots only: no padding, no line breaks
		if !jwsChar[proof[i]] {
			return key, claims, malformed("character outside base64url")
		}
	}
	h64, rest, _ := strings.Cut(proof, ".")
	p64, s64, ok := strings.Cut(rest, ".")
	if !ok || h64 == "" || p64 == "" || s64 == "" || strings.IndexByte(s64, '.') >= 0 {
		return key, claims, malformed("not three non-empty dot-separated segments")
	}
	alg, key, err := v.header(h64)
	if err != nil {
		return key, claims, err
	}
	payload, err := decodeObject(p64)
	if err != nil {
		return key, claims, malformed("payload: " + err.Error())
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(s64)
	if err != nil {
		return key, claims, malformed("signature is not base64url")
	}

	// Signature, over the segments exactly as received.
	if err := alg.method.Verify(proof[:len(h64)+1+len(p64)], sig, key.key); err != nil {
		return key, claims, domain.InvalidProof(domain.ProofSignature, "", err)
	}

	// Claims: read here, checked by checkClaims.
	for _, c := range []struct {
		name string
		dst  *string
	}{{"jti", &claims.jti}, {"htm", &claims.htm}, {"htu", &claims.htu}, {"ath", &claims.ath}} {
		if _, ok := payload[c.name]; !ok && c.name == "ath" && !withToken {
			continue
		}
		if *c.dst, err = stringParam(payload, c.name, domain.ProofMissingClaim); err != nil {
			return key, claims, err
		}
	}
	if raw, ok := payload["nonce"]; ok {
		if err := json.Unmarshal(raw, &claims.nonce); err != nil {
			return key, claims, domain.InvalidProof(domain.ProofClaimType, "nonce", nil)
		}
	}
	raw, ok := payload["iat"]
	if !ok {
		return key, claims, domain.InvalidProof(domain.ProofMissingClaim, "iat", nil)
	}
	// A JSON number (RFC 7519 NumericDate), not a string.
	if claims.iat, err = strconv.ParseFloat(string(raw), 64); err != nil || len(raw) == 0 || raw[0] == '"' ||
		math.IsNaN(claims.iat) || math.IsInf(claims.iat, 0) {
		return key, claims, domain.InvalidProof(domain.ProofClaimType, "iat", nil)
	}
	return key, claims, nil
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
