// Package jwtverify verifies JWT access tokens for any identity provider:
// the provider-neutral engine under the provider adapters (one package per
// provider, beside this one). A provider describes its issuers as data — an
// Issuer: the expected "iss", where keys come from, accepted audiences,
// its extra checks and where its claims keep scopes, roles and the client
// — and New returns a ports.TokenVerifier for them.
//
// It uses golang-jwt (parsing, signatures, registered claims) and
// keyfunc/jwkset (key lookup), and adds what they leave out: a size cap,
// no member named twice in the header or claims, strict header rules (typ,
// crit), key hygiene, rate-limited refresh on unknown kids, last-good-keys
// on fetch failure, a verified-token cache and, with several issuers,
// issuer-bound keys.
package jwtverify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.TokenVerifier = (*Verifier)(nil)
	_ ports.Readiness     = (*Verifier)(nil)
)

// Issuer is one issuer whose tokens a Verifier accepts, as its provider
// describes it.
type Issuer struct {
	// Name is the "iss" tokens must carry exactly. Unless JWKSURI, Keys or
	// Secret is set it is also where discovery starts, and the discovered
	// issuer (which may differ from Name in a trailing slash) replaces it.
	Name string
	// AlsoNames are more accepted "iss" values served by the same keys.
	AlsoNames []string
	// JWKSURI, when set, is where the keys are; discovery is skipped.
	JWKSURI string
	// Keys, when set, are the issuer's keys, fixed: nothing is fetched.
	// Keys without a kid verify tokens whatever kid they name.
	Keys []jwkset.JWK
	// Secret, when set, is a shared secret for HS256/384/512 tokens.
	// It is never combined with public keys.
	Secret []byte
	// Audiences: a token's "aud" must contain one of them. Empty skips
	// the check, for providers whose tokens have no "aud" (Check must then
	// bind the token to this API another way).
	Audiences []string
	// Check, if set, applies the provider's own rules to the claims after
	// the standard ones; its errors should be *domain.TokenError.
	Check func(claims map[string]any) error
	// Claims says where the principal's scopes, permissions, client and
	// roles are.
	Claims Mapping
}

// remote reports whether the issuer's keys are fetched.
func (i *Issuer) remote() bool { return i.Keys == nil && i.Secret == nil }

// validate checks one issuer description.
func (i *Issuer) validate() error {
	if strings.TrimSpace(i.Name) == "" || strings.ContainsAny(i.Name, " \t\r\n") {
		return fmt.Errorf("issuer %q: must be the exact iss of the tokens, without spaces", i.Name)
	}
	if i.Keys != nil && i.Secret != nil {
		return fmt.Errorf("issuer %s: keys and a shared secret cannot be mixed", i.Name)
	}
	if !i.remote() && i.JWKSURI != "" {
		return fmt.Errorf("issuer %s: a JWKS URI with fixed keys or a secret", i.Name)
	}
	if i.Keys != nil && len(i.Keys) == 0 {
		return fmt.Errorf("issuer %s: no keys", i.Name)
	}
	if i.remote() {
		if i.JWKSURI != "" {
			if _, err := CheckURL(i.JWKSURI); err != nil {
				return fmt.Errorf("issuer %s: jwks uri: %w", i.Name, err)
			}
		} else if err := CheckIssuerURL(i.Name); err != nil {
			return fmt.Errorf("issuer: %w", err)
		}
	}
	for _, a := range i.Audiences {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("issuer %s: empty audience", i.Name)
		}
	}
	return nil
}

// Verifier checks access tokens against the configured issuers.
type Verifier struct {
	opts    Options
	issuers []*issuer
}

// New returns a verifier for issuers under opts and starts fetching the
// remote issuers' keys in the background; it does not wait for them, so
// it succeeds while an issuer is unreachable. The fetching stops when ctx
// ends or cleanup is called. The verifier's metrics (key fetches, key
// sets, cache) are registered with reg.
func New(ctx context.Context, opts Options, issuers []Issuer, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := opts.validate(issuers); err != nil {
		return nil, nil, fmt.Errorf("jwtverify: %w", err)
	}
	names := map[string]bool{}
	jwksURIs := map[string]bool{}
	for _, iss := range issuers {
		if err := iss.validate(); err != nil {
			return nil, nil, fmt.Errorf("jwtverify: %w", err)
		}
		for _, name := range append([]string{iss.Name}, iss.AlsoNames...) {
			if names[strings.TrimSuffix(name, "/")] {
				return nil, nil, fmt.Errorf("jwtverify: issuer %s is given twice", name)
			}
			names[strings.TrimSuffix(name, "/")] = true
		}
		if iss.JWKSURI != "" {
			if jwksURIs[iss.JWKSURI] {
				return nil, nil, errors.New("jwtverify: jwks uri: cannot be shared by several issuers")
			}
			jwksURIs[iss.JWKSURI] = true
		}
	}

	v := &Verifier{opts: opts}
	fetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwks_fetches_total",
		Help: "Fetches of the issuers' discovery documents and JWKS, by result (ok, error).",
	}, []string{"result"})

	ctx, cancel := context.WithCancel(ctx)
	cacheSize := opts.CacheSize // shared by the issuers, so the bound holds in all
	if cacheSize > 0 {
		cacheSize = max(1, cacheSize/len(issuers))
	}
	for _, spec := range issuers {
		iss := &issuer{opts: &v.opts, spec: spec, cache: newTokenCache(cacheSize, opts.CacheTTL)}
		switch {
		case spec.Secret != nil:
			iss.keys = newFixedKeySource(&v.opts, log, spec.Name, nil)
		case spec.Keys != nil:
			iss.keys = newFixedKeySource(&v.opts, log, spec.Name, spec.Keys)
		default:
			iss.keys = newKeySource(&v.opts, log, spec.Name, spec.JWKSURI)
			iss.keys.fetches = fetches
			go iss.keys.run(ctx)
		}
		if iss.cache != nil {
			iss.keys.removed = iss.cache.dropKeys
		}
		var err error
		if iss.kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: iss.keys}); err != nil {
			cancel()
			return nil, nil, fmt.Errorf("jwtverify: %w", err)
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
		return nil, nil, fmt.Errorf("jwtverify: metrics: %w", err)
	}
	var issuerNames, audiences []string
	for _, iss := range issuers {
		issuerNames = append(issuerNames, append([]string{iss.Name}, iss.AlsoNames...)...)
		for _, a := range iss.Audiences {
			if !slices.Contains(audiences, a) {
				audiences = append(audiences, a)
			}
		}
	}
	log.Info("verifying tokens", "issuers", issuerNames, "audiences", audiences, "algorithms", v.opts.Algorithms)
	return v, cleanup, nil
}

// Ready returns nil once every issuer's signing keys have been loaded.
func (v *Verifier) Ready(context.Context) error {
	for _, iss := range v.issuers {
		if !iss.keys.loaded.Load() {
			return fmt.Errorf("jwtverify: %w: signing keys of %s not loaded yet", domain.ErrUnavailable, iss.spec.Name)
		}
	}
	return nil
}

// Verify implements ports.TokenVerifier.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (domain.Principal, error) {
	if v.opts.Tracer != nil {
		return v.verifyTraced(ctx, rawToken)
	}
	return v.verify(ctx, rawToken, nil)
}

// verify is Verify; note, if not nil, is told what the span reports.
func (v *Verifier) verify(ctx context.Context, rawToken string, note *verifyNote) (domain.Principal, error) {
	if len(rawToken) > MaxTokenBytes {
		return domain.Principal{}, domain.InvalidToken(domain.ReasonTooLarge, nil)
	}
	if len(v.issuers) == 1 {
		return v.issuers[0].verify(ctx, rawToken, note)
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
			return iss.verify(ctx, rawToken, note)
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
