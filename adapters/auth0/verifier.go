// Package auth0 verifies JWT access tokens issued by Auth0 or any OpenID
// Connect provider, with keys from the issuer's JWKS. It implements
// ports.TokenVerifier with golang-jwt (parsing, signatures, registered
// claims) and keyfunc/jwkset (key lookup), and adds what they leave out:
// a size cap, strict header rules (typ, crit), key hygiene, rate-limited
// refresh on unknown kids and last-good-keys on fetch failure.
package auth0

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.TokenVerifier = (*Verifier)(nil)
	_ ports.Readiness     = (*Verifier)(nil)
)

// Verifier checks access tokens against one issuer.
type Verifier struct {
	cfg    Config
	keys   *keySource
	kf     keyfunc.Keyfunc
	parser atomic.Pointer[issuerParser]
	cache  *tokenCache // nil when disabled
}

// issuerParser is a golang-jwt parser set up for one expected issuer. gen
// numbers the configurations, so cached verifications made under an
// earlier one are not trusted.
type issuerParser struct {
	issuer string
	parser *jwt.Parser
	gen    uint64
}

// New returns a verifier for cfg and starts fetching the issuer's keys in
// the background; it does not wait for them, so it succeeds while the
// issuer is unreachable. The fetching stops when ctx ends or cleanup is
// called. A bad cfg is an error naming the field. The verifier's metrics
// (key fetches, key set, cache) are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, fmt.Errorf("auth0: %w", err)
	}
	v := &Verifier{cfg: cfg, cache: newTokenCache(cfg.CacheSize, cfg.CacheTTL)}
	v.keys = newKeySource(&v.cfg, log)
	if v.cache != nil {
		v.keys.removed = v.cache.dropKeys
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: v.keys})
	if err != nil {
		return nil, nil, fmt.Errorf("auth0: %w", err)
	}
	v.kf = kf
	if err := v.register(reg); err != nil {
		return nil, nil, fmt.Errorf("auth0: metrics: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	go v.keys.run(ctx)
	cleanup := func() {
		cancel()
		<-v.keys.stopped
	}
	return v, cleanup, nil
}

// Ready returns nil once signing keys have been loaded.
func (v *Verifier) Ready(context.Context) error {
	if v.keys.loaded.Load() {
		return nil
	}
	return fmt.Errorf("auth0: %w: signing keys not loaded yet", domain.ErrUnavailable)
}

// Verify implements ports.TokenVerifier.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (domain.Principal, error) {
	if len(rawToken) > MaxTokenBytes {
		return domain.Principal{}, domain.InvalidToken(domain.ReasonTooLarge, nil)
	}
	ip := v.currentParser()
	var key [32]byte
	if v.cache != nil {
		// Hash the string's bytes in place: SHA-256 only reads them.
		key = sha256.Sum256(unsafe.Slice(unsafe.StringData(rawToken), len(rawToken)))
		if p, ok := v.cache.get(key, v.cfg.Now(), ip.gen); ok {
			return p, nil
		}
	}
	if err := checkCompact(rawToken); err != nil {
		return domain.Principal{}, domain.InvalidToken(domain.ReasonMalformed, err)
	}
	claims := jwt.MapClaims{}
	tok, err := ip.parser.ParseWithClaims(rawToken, claims, v.keyfunc(ctx))
	if err != nil {
		return domain.Principal{}, v.refusal(tok, err)
	}
	p, err := principal(claims)
	if err != nil {
		return domain.Principal{}, err
	}
	if v.cache != nil {
		v.remember(key, tok, claims, p)
	}
	return p, nil
}

// remember caches a verified token until its exp (plus leeway).
func (v *Verifier) remember(key [32]byte, tok *jwt.Token, c jwt.MapClaims, p domain.Principal) {
	e := cacheEntry{principal: p, until: p.ExpiresAt.Add(v.cfg.ClockTolerance), gen: v.parser.Load().gen}
	e.kid, _ = tok.Header["kid"].(string)
	if nbf, err := c.GetNotBefore(); err == nil && nbf != nil {
		e.notBefore = nbf.Add(-v.cfg.ClockTolerance)
	}
	v.cache.put(key, e, v.cfg.Now())
}

// checkCompact checks the JWS compact form cheaply, before any decoding:
// three non-empty segments of base64url characters.
func checkCompact(s string) error {
	if strings.Count(s, ".") != 2 {
		return errors.New("not three dot-separated segments")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return errors.New("character outside base64url")
		}
	}
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return errors.New("empty segment")
	}
	return nil
}

// currentParser returns a parser for the expected issuer, which discovery
// may refine (trailing slash) after start-up.
func (v *Verifier) currentParser() *issuerParser {
	iss := *v.keys.issuer.Load()
	old := v.parser.Load()
	if old != nil && old.issuer == iss {
		return old
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(v.cfg.Algorithms),
		jwt.WithIssuer(iss),
		jwt.WithAudience(v.cfg.Audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.cfg.ClockTolerance),
		jwt.WithTimeFunc(v.cfg.Now),
		jwt.WithStrictDecoding(),
	)
	ip := &issuerParser{issuer: iss, parser: p}
	if old != nil {
		ip.gen = old.gen + 1
	}
	v.parser.Store(ip)
	return ip
}

// Header errors, found by keyfunc before any key is used.
var (
	errCritical    = errors.New(`"crit" header parameter present`)
	errType        = errors.New(`"typ" header is not an access token type`)
	errHeader      = errors.New("header parameter of the wrong type")
	errUnavailable = fmt.Errorf("%w: signing keys not loaded", domain.ErrUnavailable)
	errNoKey       = errors.New("no key of the JWKS fits the token's algorithm")
)

// keyfunc checks the header, then finds the verification key: by kid
// through keyfunc (refreshing on an unknown kid), or every fitting key when
// the token has no kid. Keys come only from the JWKS; jku, x5u, x5c and jwk
// headers are never read.
func (v *Verifier) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if err := checkHeader(t.Header); err != nil {
			return nil, err
		}
		if !v.keys.ready(ctx) {
			return nil, errUnavailable
		}
		key, err := v.kf.KeyfuncCtx(ctx)(t)
		if err != nil {
			return nil, err
		}
		alg := t.Method.Alg()
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

// refusal turns a golang-jwt error into a domain error with a reason.
func (v *Verifier) refusal(tok *jwt.Token, err error) error {
	reason := domain.ReasonMalformed
	switch {
	case errors.Is(err, domain.ErrUnavailable):
		return fmt.Errorf("auth0: %w", errUnavailable)
	case errors.Is(err, errCritical):
		reason = domain.ReasonCritical
	case errors.Is(err, errType):
		reason = domain.ReasonType
	case errors.Is(err, errHeader), errors.Is(err, jwt.ErrTokenMalformed):
		reason = domain.ReasonMalformed
	case tok != nil && !v.algorithmAllowed(tok.Header["alg"]):
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

func (v *Verifier) algorithmAllowed(alg any) bool {
	s, ok := alg.(string)
	return ok && slices.Contains(v.cfg.Algorithms, s)
}

// principal maps verified claims to a domain.Principal, refusing claims of
// the wrong JSON type and tokens without a subject (RFC 9068 §2.2). Claim
// names are matched exactly ("EXP" is not "exp"). Errors are *TokenError.
func principal(c jwt.MapClaims) (domain.Principal, error) {
	p, err := mapClaims(c)
	if err != nil {
		return p, domain.InvalidToken(domain.ReasonClaimType, err)
	}
	if p.Subject == "" {
		return p, domain.InvalidToken(domain.ReasonMissingClaim, errors.New(`"sub" missing or empty`))
	}
	return p, nil
}

func mapClaims(c jwt.MapClaims) (domain.Principal, error) {
	var p domain.Principal
	var err error
	if p.Subject, err = stringClaim(c, "sub"); err != nil {
		return p, err
	}
	if p.Issuer, err = stringClaim(c, "iss"); err != nil {
		return p, err
	}
	aud, err := c.GetAudience()
	if err != nil {
		return p, err
	}
	p.Audiences = []string(aud)
	scope, err := stringClaim(c, "scope")
	if err != nil {
		return p, err
	}
	p.Scopes = strings.Fields(scope)
	if p.Permissions, err = stringsClaim(c, "permissions"); err != nil {
		return p, err
	}
	azp, err := stringClaim(c, "azp")
	if err != nil {
		return p, err
	}
	if p.ClientID, err = stringClaim(c, "client_id"); err != nil {
		return p, err
	}
	if p.ClientID == "" {
		p.ClientID = azp
	}
	if _, err = stringClaim(c, "jti"); err != nil {
		return p, err
	}
	exp, err := c.GetExpirationTime()
	if err != nil || exp == nil {
		return p, errors.New(`"exp" missing or not a number`)
	}
	p.ExpiresAt = exp.Time
	if iat, err := c.GetIssuedAt(); err == nil && iat != nil {
		p.IssuedAt = iat.Time
	}
	p.Claims = c
	return p, nil
}

// stringClaim returns claim name, "" if absent, or an error if it is not a
// JSON string.
func stringClaim(c jwt.MapClaims, name string) (string, error) {
	v, ok := c[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%q is not a string", name)
	}
	return s, nil
}

// stringsClaim returns claim name as a list of strings, nil if absent, or
// an error if it is not a JSON array of strings.
func stringsClaim(c jwt.MapClaims, name string) ([]string, error) {
	v, ok := c[name]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%q is not an array", name)
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%q has a non-string element", name)
		}
		out = append(out, s)
	}
	return out, nil
}
