// Package auth0 verifies JWT access tokens: from Auth0, any OpenID Connect
// issuer, Amazon Cognito or Microsoft Entra ID with keys from the issuer's
// JWKS, or with keys from a file or a shared secret (provider.go). It
// implements ports.TokenVerifier with golang-jwt (parsing, signatures,
// registered claims) and keyfunc/jwkset (key lookup), and adds what they
// leave out: a size cap, strict header rules (typ, crit), key hygiene,
// rate-limited refresh on unknown kids, last-good-keys on fetch failure,
// a verified-token cache and, with several issuers, issuer-bound keys.
package auth0

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.TokenVerifier = (*Verifier)(nil)
	_ ports.Readiness     = (*Verifier)(nil)
)

// Verifier checks access tokens against the configured issuers.
type Verifier struct {
	cfg     Config
	issuers []*issuer
}

// New returns a verifier for cfg and starts fetching the issuers' keys in
// the background; it does not wait for them, so it succeeds while an
// issuer is unreachable. The fetching stops when ctx ends or cleanup is
// called. A bad cfg is an error naming the setting. The verifier's metrics
// (key fetches, key sets, cache) are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, fmt.Errorf("auth0: %w", err)
	}
	specs, err := cfg.specs()
	if err != nil {
		return nil, nil, fmt.Errorf("auth0: %w", err)
	}
	v := &Verifier{cfg: cfg}
	fetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwks_fetches_total",
		Help: "Fetches of the issuers' discovery documents and JWKS, by result (ok, error).",
	}, []string{"result"})

	ctx, cancel := context.WithCancel(ctx)
	cacheSize := cfg.CacheSize // shared by the issuers, so the bound holds in all
	if cacheSize > 0 {
		cacheSize = max(1, cacheSize/len(specs))
	}
	for _, spec := range specs {
		iss := &issuer{cfg: &v.cfg, spec: spec, cache: newTokenCache(cacheSize, cfg.CacheTTL)}
		switch cfg.Provider {
		case ProviderHS256:
			iss.secret = cfg.Secret
			iss.keys = newFixedKeySource(&v.cfg, log, spec.issuer, nil)
		case ProviderStatic:
			keys, err := LoadKeyFile(cfg.KeyFile, cfg.Algorithms)
			if err != nil {
				cancel()
				return nil, nil, fmt.Errorf("auth0: key file: %w", err)
			}
			iss.keys = newFixedKeySource(&v.cfg, log, spec.issuer, keys)
		default:
			iss.keys = newKeySource(&v.cfg, log, spec.issuer, spec.jwksURI)
			iss.keys.fetches = fetches
			go iss.keys.run(ctx)
		}
		if iss.cache != nil {
			iss.keys.removed = iss.cache.dropKeys
		}
		if iss.kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: iss.keys}); err != nil {
			cancel()
			return nil, nil, fmt.Errorf("auth0: %w", err)
		}
		v.issuers = append(v.issuers, iss)
	}
	cleanup := func() {
		cancel()
		for _, iss := range v.issuers {
			<-iss.keys.stopped
		}
	}
	if err := v.register(reg, fetches); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("auth0: metrics: %w", err)
	}
	return v, cleanup, nil
}

// Ready returns nil once every issuer's signing keys have been loaded.
func (v *Verifier) Ready(context.Context) error {
	for _, iss := range v.issuers {
		if !iss.keys.loaded.Load() {
			return fmt.Errorf("auth0: %w: signing keys of %s not loaded yet", domain.ErrUnavailable, iss.spec.issuer)
		}
	}
	return nil
}

// Verify implements ports.TokenVerifier.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (domain.Principal, error) {
	if len(rawToken) > MaxTokenBytes {
		return domain.Principal{}, domain.InvalidToken(domain.ReasonTooLarge, nil)
	}
	if len(v.issuers) == 1 {
		return v.issuers[0].verify(ctx, rawToken)
	}
	// Several issuers: the token's (unverified) "iss" picks one, and only
	// that issuer's keys may verify it. An unknown issuer is refused here,
	// before any key is looked up or fetched.
	name, err := peekIssuer(rawToken)
	if err != nil {
		return domain.Principal{}, err
	}
	for _, iss := range v.issuers {
		if iss.accepts(name) {
			return iss.verify(ctx, rawToken)
		}
	}
	return domain.Principal{}, domain.InvalidToken(domain.ReasonIssuer, errors.New("no configured issuer has this name"))
}

// peekIssuer reads a token's "iss" without verifying anything. It decodes
// only the payload; the issuer's verify checks the whole compact form.
func peekIssuer(raw string) (string, error) {
	_, rest, _ := strings.Cut(raw, ".")
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return "", domain.InvalidToken(domain.ReasonMalformed, errors.New("not three dot-separated segments"))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return "", domain.InvalidToken(domain.ReasonMalformed, err)
	}
	var claims map[string]json.RawMessage // exact names: "ISS" is not "iss"
	if err := json.Unmarshal(b, &claims); err != nil {
		return "", domain.InvalidToken(domain.ReasonMalformed, err)
	}
	iss, ok := claims["iss"]
	if !ok {
		return "", domain.InvalidToken(domain.ReasonMissingClaim, errors.New(`"iss" missing`))
	}
	var name string
	if err := json.Unmarshal(iss, &name); err != nil {
		return "", domain.InvalidToken(domain.ReasonClaimType, errors.New(`"iss" is not a string`))
	}
	return name, nil
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
