package jwtverify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/example/spaapi/domain"
)

// issuer verifies the tokens of one issuer with that issuer's keys.
type issuer struct {
	opts   *Options
	spec   Issuer
	keys   *keySource
	kf     keyfunc.Keyfunc
	parser atomic.Pointer[issuerParser]
	cache  *tokenCache // nil when disabled
}

// issuerParser is a golang-jwt parser set up for the expected issuer. gen
// numbers the configurations, so cached verifications made under an
// earlier one are not trusted.
type issuerParser struct {
	issuer string
	parser *jwt.Parser
	gen    uint64
}

// accepts reports whether name is one of the issuer's "iss" values: the
// issuer (as discovery confirmed it) and any others sharing its keys.
func (iss *issuer) accepts(name string) bool {
	return name == *iss.keys.issuer.Load() || slices.Contains(iss.spec.AlsoNames, name)
}

// verify checks raw completely and returns its principal. note, if not
// nil, is told the issuer and what the cache said, for a span.
func (iss *issuer) verify(ctx context.Context, raw string, note *verifyNote) (domain.Principal, error) {
	ip := iss.currentParser()
	if note != nil {
		note.issuer = ip.issuer
	}
	var key [32]byte
	if iss.cache != nil {
		// Hash the string's bytes in place: SHA-256 only reads them.
		key = sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
		p, ok := iss.cache.get(key, iss.opts.Now(), ip.gen)
		if note != nil {
			note.cache = "miss"
			if ok {
				note.cache = "hit"
			}
		}
		if ok {
			return p, nil
		}
	}
	if err := checkCompact(raw); err != nil {
		return domain.Principal{}, domain.InvalidToken(domain.ReasonMalformed, err)
	}
	// Before golang-jwt decodes the JSON, which would keep the last of
	// duplicate members (and refuses the invalid JSON this lets through).
	if err := checkMemberNames(raw); err != nil {
		return domain.Principal{}, domain.InvalidToken(domain.ReasonMalformed, err)
	}
	claims := jwt.MapClaims{}
	tok, err := ip.parser.ParseWithClaims(raw, claims, iss.keyfunc(ctx))
	if err != nil {
		return domain.Principal{}, iss.refusal(tok, err)
	}
	if err := checkDatesInRange(claims); err != nil {
		return domain.Principal{}, err
	}
	if len(iss.spec.AlsoNames) > 0 { // the parser could check only one
		name, _ := claims["iss"].(string)
		if !iss.accepts(name) {
			return domain.Principal{}, domain.InvalidToken(domain.ReasonIssuer, errors.New("iss is not one of the issuer's names"))
		}
	}
	if iss.spec.Check != nil {
		if err := iss.spec.Check(claims); err != nil {
			return domain.Principal{}, err
		}
	}
	p, err := iss.spec.Claims.principal(claims)
	if err != nil {
		return domain.Principal{}, err
	}
	if iss.cache != nil {
		iss.remember(key, tok, claims, p, ip.gen)
	}
	return p, nil
}

// remember caches a verified token until its exp (plus leeway). A hit
// applies the parser's time checks again: before the later of nbf and iat
// (less leeway), as after exp, the entry is not used, so a clock that
// steps back cannot make the cache accept what the parser would refuse.
func (iss *issuer) remember(key [32]byte, tok *jwt.Token, c jwt.MapClaims, p domain.Principal, gen uint64) {
	kid, _ := tok.Header["kid"].(string)
	var notBefore time.Time
	if nbf, err := c.GetNotBefore(); err == nil && nbf != nil {
		notBefore = nbf.Add(-iss.opts.ClockTolerance)
	}
	if !p.IssuedAt.IsZero() {
		if iat := p.IssuedAt.Add(-iss.opts.ClockTolerance); iat.After(notBefore) {
			notBefore = iat
		}
	}
	iss.cache.put(key, newCacheEntry(p, kid, notBefore, p.ExpiresAt.Add(iss.opts.ClockTolerance), gen), iss.opts.Now())
}

// currentParser returns a parser for the expected issuer, which discovery
// may refine (trailing slash) after start-up.
func (iss *issuer) currentParser() *issuerParser {
	name := *iss.keys.issuer.Load()
	old := iss.parser.Load()
	if old != nil && old.issuer == name {
		return old
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(iss.opts.Algorithms),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(iss.opts.ClockTolerance),
		jwt.WithTimeFunc(iss.opts.Now),
		jwt.WithStrictDecoding(),
	}
	if len(iss.spec.AlsoNames) == 0 {
		opts = append(opts, jwt.WithIssuer(name))
	}
	if len(iss.spec.Audiences) > 0 {
		opts = append(opts, jwt.WithAudience(iss.spec.Audiences...))
	}
	ip := &issuerParser{issuer: name, parser: jwt.NewParser(opts...)}
	if old != nil {
		ip.gen = old.gen + 1
	}
	iss.parser.Store(ip)
	return ip
}

// Header errors, found by keyfunc before any key is used.
var (
	errCritical    = errors.New(`"crit" header parameter present`)
	errType        = errors.New(`"typ" header is not an access token type`)
	errHeader      = errors.New("header parameter of the wrong type")
	errUnavailable = fmt.Errorf("%w: signing keys not loaded", domain.ErrUnavailable)
	errNoKey       = errors.New("no key of the issuer fits the token's algorithm")
)

// errB64: with "b64": false (RFC 7797) the payload is not base64url-encoded,
// so libraries that implement it verify another signing input; nothing
// here does (it needs crit, which is refused anyway).
var errB64 = errors.New(`"b64" header parameter other than true`)

// keyfunc checks the header, then finds the verification key: by kid
// through keyfunc (refreshing on an unknown kid), or every fitting key when
// the token has no kid (or, with a key file, names a kid no key has). Keys
// come only from the issuer's key set or secret; jku, x5u, x5c and jwk
// headers are never read.
func (iss *issuer) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if err := checkHeader(t.Header); err != nil {
			return nil, err
		}
		alg := t.Method.Alg()
		if iss.spec.Secret != nil {
			if !keyFits(alg, iss.spec.Secret) {
				return nil, errNoKey
			}
			return iss.spec.Secret, nil
		}
		if !iss.keys.ready(ctx) {
			return nil, errUnavailable
		}
		key, err := iss.kf.KeyfuncCtx(ctx)(t)
		if err != nil && iss.keys.fixed && errors.Is(err, jwkset.ErrKeyNotFound) {
			key, err = iss.kf.VerificationKeySet(ctx) // PEM keys have no kid
		}
		if err != nil {
			return nil, err
		}
		if set, ok := key.(jwt.VerificationKeySet); ok {
			var fit []jwt.VerificationKey
			for _, k := range set.Keys {
				if keyFits(alg, k) {
					fit = append(fit, k)
				}
			}
			if len(fit) == 0 {
				return nil, errNoKey
			}
			return jwt.VerificationKeySet{Keys: fit}, nil
		}
		if !keyFits(alg, key) {
			return nil, errNoKey
		}
		return key, nil
	}
}

// checkHeader applies the header rules golang-jwt leaves to us.
func checkHeader(h map[string]any) error {
	// RFC 7515 §4.1.11: a critical extension we do not understand makes the
	// JWS invalid, and we understand none.
	if _, ok := h["crit"]; ok {
		return errCritical
	}
	if b64, ok := h["b64"]; ok && b64 != true {
		return errB64
	}
	// RFC 8725 §3.11 and RFC 9068 §4: refuse explicitly typed non-access tokens.
	if typ, ok := h["typ"]; ok {
		s, isString := typ.(string)
		if !isString {
			return errHeader
		}
		s = strings.TrimPrefix(strings.ToLower(s), "application/")
		if s != "at+jwt" && s != "jwt" {
			return errType
		}
	}
	if kid, ok := h["kid"]; ok {
		if _, isString := kid.(string); !isString {
			return errHeader
		}
	}
	return nil
}

// maxNumericDate is the end of year 9999 in Unix seconds.
const maxNumericDate = 253402300799

// checkDatesInRange refuses "nbf" and "iat" later than year 9999.
// golang-jwt turns a NumericDate past the range of int64 seconds into a
// time in the distant past, so without this "nbf": 1e300 (not valid
// before the year 10^300) and "iat": 1e19 passed its checks. (An "exp"
// that large comes out in the past too, and is refused as expired.)
func checkDatesInRange(c jwt.MapClaims) error {
	if f, ok := c["nbf"].(float64); ok && f > maxNumericDate {
		return domain.InvalidToken(domain.ReasonNotYetValid, errors.New("nbf is after year 9999"))
	}
	if f, ok := c["iat"].(float64); ok && f > maxNumericDate {
		return domain.InvalidToken(domain.ReasonIssuedInFuture, errors.New("iat is after year 9999"))
	}
	return nil
}

// refusal turns a golang-jwt error into a domain error with a reason.
func (iss *issuer) refusal(tok *jwt.Token, err error) error {
	reason := domain.ReasonMalformed
	switch {
	case errors.Is(err, domain.ErrUnavailable):
		return fmt.Errorf("jwtverify: %w", errUnavailable)
	case errors.Is(err, errCritical):
		reason = domain.ReasonCritical
	case errors.Is(err, errType):
		reason = domain.ReasonType
	case errors.Is(err, errHeader), errors.Is(err, errB64), errors.Is(err, jwt.ErrTokenMalformed):
		reason = domain.ReasonMalformed
	case tok != nil && !iss.algorithmAllowed(tok.Header["alg"]):
		reason = domain.ReasonAlgorithm
	case errors.Is(err, jwkset.ErrKeyNotFound), errors.Is(err, errNoKey), errors.Is(err, keyfunc.ErrKeyfunc):
		reason = domain.ReasonUnknownKey
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		reason = domain.ReasonSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		reason = domain.ReasonUnknownKey
	case errors.Is(err, jwt.ErrInvalidType):
		reason = domain.ReasonClaimType
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = domain.ReasonMissingClaim
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = domain.ReasonIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = domain.ReasonAudience
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = domain.ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		reason = domain.ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = domain.ReasonIssuedInFuture
	}
	return domain.InvalidToken(reason, err)
}

func (iss *issuer) algorithmAllowed(alg any) bool {
	s, ok := alg.(string)
	return ok && slices.Contains(iss.opts.Algorithms, s)
}
