// Package oidc verifies JWT access tokens from any OpenID Connect (or RFC
// 8414) issuer: keys by discovery, "scope" or "scp" for scopes, roles
// wherever ROLES_CLAIM points. It describes the issuers to the
// provider-neutral engine, adapters/jwtverify. Providers with a package of
// their own add what is particular to them; this one assumes nothing.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.TokenVerifier = (*Verifier)(nil)
	_ ports.Readiness     = (*Verifier)(nil)
)

// Verifier checks access tokens against the configured issuers.
type Verifier = jwtverify.Verifier

// Settings: the provider has none of its own; it reads the shared ones
// (ISSUER_BASE_URL, AUDIENCE, JWKS_URI, TOKEN_SIGNING_ALG, ROLES_CLAIM).
var Settings []jwtverify.Setting

// DefaultRolesClaim is where roles are when ROLES_CLAIM is not set.
const DefaultRolesClaim = "roles"

// Config says which tokens the verifier accepts.
type Config struct {
	// Issuers are the accepted issuers: each the base for discovery and,
	// unless discovery returns the same URL with or without a trailing
	// slash, the exact "iss" its tokens carry. With several, a token's
	// "iss" picks one, and only that issuer's keys may verify it.
	Issuers []string
	// Audiences: a token's "aud" must contain at least one of them.
	Audiences []string
	// RolesClaims are where roles are: claim names or dot paths
	// ("realm_access.roles"); empty means DefaultRolesClaim.
	RolesClaims []string
	// JWKSURI, when set, is where keys come from (one issuer only);
	// discovery is skipped and the issuer is the "iss" exactly as given.
	JWKSURI string
	// Options are the engine's.
	jwtverify.Options
}

// Load reads the settings from env, with opts for the engine, and checks
// them; errors name the setting.
func Load(env jwtverify.Env, opts jwtverify.Options) (Config, error) {
	c := Config{Options: opts}
	var err error
	if c.Issuers, err = jwtverify.Issuers(env, "oidc"); err != nil {
		return Config{}, err
	}
	aud, from, err := jwtverify.ListSetting(env, "audience")
	if err != nil {
		return Config{}, err
	}
	if len(aud) == 0 {
		return Config{}, fmt.Errorf("%s is required: set it to your API's identifier, the aud your issuer puts in its access tokens, e.g. https://api.example.com", from)
	}
	c.Audiences = aud
	if c.JWKSURI, _, err = env("jwks-uri"); err != nil {
		return Config{}, err
	}
	if c.RolesClaims, _, err = jwtverify.ListSetting(env, "roles-claim"); err != nil {
		return Config{}, err
	}
	if c.Algorithms, err = jwtverify.Algorithms(env); err != nil {
		return Config{}, err
	}
	return c, c.Check()
}

// Check reports what is wrong with c, if anything, as New would, naming
// the setting.
func (c Config) Check() error {
	if len(c.Issuers) == 0 {
		return errors.New("ISSUER_BASE_URL: required")
	}
	if len(c.Issuers) > 1 && c.JWKSURI != "" {
		return errors.New("JWKS_URI: cannot be shared by several issuers")
	}
	for i, iss := range c.Issuers {
		if err := jwtverify.CheckIssuerURL(iss); err != nil {
			return fmt.Errorf("ISSUER_BASE_URL: %w", err)
		}
		if slices.Contains(c.Issuers[:i], iss) {
			return fmt.Errorf("ISSUER_BASE_URL: %s is given twice", iss)
		}
	}
	if c.JWKSURI != "" {
		if _, err := jwtverify.CheckURL(c.JWKSURI); err != nil {
			return fmt.Errorf("JWKS_URI: %w", err)
		}
	}
	if len(c.Audiences) == 0 {
		return errors.New("AUDIENCE: at least one audience is required")
	}
	for _, a := range c.Audiences {
		if strings.TrimSpace(a) == "" {
			return errors.New("AUDIENCE: empty audience")
		}
	}
	if len(c.Algorithms) > 0 {
		if _, err := jwtverify.ParseAlgorithms(strings.Join(c.Algorithms, ",")); err != nil {
			return fmt.Errorf("TOKEN_SIGNING_ALG: %w", err)
		}
	}
	return nil
}

// New returns a verifier for cfg and starts fetching the issuers' keys in
// the background; it does not wait for them. The fetching stops when ctx
// ends or cleanup is called. The verifier's metrics are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.Check(); err != nil {
		return nil, nil, fmt.Errorf("oidc: %w", err)
	}
	roles := cfg.RolesClaims
	if len(roles) == 0 {
		roles = []string{DefaultRolesClaim}
	}
	var issuers []jwtverify.Issuer
	for _, name := range cfg.Issuers {
		issuers = append(issuers, jwtverify.Issuer{
			Name: name, JWKSURI: cfg.JWKSURI, Audiences: cfg.Audiences,
			Claims: jwtverify.StandardMapping(roles...),
		})
	}
	v, cleanup, err := jwtverify.New(ctx, cfg.Options, issuers, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("oidc: %w", err)
	}
	return v, cleanup, nil
}

// AuthorizationServers lists the issuers whose tokens c accepts: the
// authorization servers of the API's protected resource metadata
// (RFC 9728).
func (c Config) AuthorizationServers() []string { return slices.Clone(c.Issuers) }
