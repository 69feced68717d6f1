// Package auth0 is the default identity provider: it verifies Auth0 access
// tokens (and any issuer's that look like them) by describing the tenant
// to the provider-neutral engine, adapters/jwtverify, which fetches the
// tenant's keys and checks every token.
//
// Auth0's own part is small: AUTH0_DOMAIN as a shortcut for the issuer,
// its RBAC "permissions", roles from a namespaced custom claim your Action
// adds (ROLES_CLAIM), the client in "azp", and how the user logged in
// (acr, amr, auth_time) from custom claims your Action adds under
// AUTH0_CLAIMS_NAMESPACE: Auth0 lets no Action set those three in an
// access token under their own names.
package auth0

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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

// Verifier checks access tokens against the configured tenants.
type Verifier = jwtverify.Verifier

// Settings are the provider's own settings, beside the shared ones
// (ISSUER_BASE_URL, AUDIENCE, JWKS_URI, TOKEN_SIGNING_ALG, ROLES_CLAIM).
var Settings = []jwtverify.Setting{
	{Flag: "auth0-domain", Var: "AUTH0_DOMAIN", Usage: "shortcut for the issuer: TENANT.auth0.com means https://TENANT.auth0.com/"},
	{Flag: "auth0-claims-namespace", Var: "AUTH0_CLAIMS_NAMESPACE", Usage: "namespace of the custom claims your Action adds for step-up: with https://example.com/, acr, amr and auth_time are read from https://example.com/acr, https://example.com/amr and https://example.com/auth_time when the token lacks the standard ones"},
}

// Config says which tokens the verifier accepts. Load builds it from the
// settings; tests and other programs build it directly.
type Config struct {
	// IssuerBaseURL is the issuer, e.g. "https://TENANT.auth0.com/". It is
	// the base for discovery and, unless discovery returns the same URL
	// with or without a trailing slash, the exact "iss" tokens must carry.
	IssuerBaseURL string
	// Issuers, when set, replaces IssuerBaseURL with several tenants: a
	// token's "iss" picks one, and only that tenant's keys may verify it.
	Issuers []string
	// Audiences: a token's "aud" must contain at least one of them.
	Audiences []string
	// RolesClaims are where roles are: claim names (Auth0 wants custom
	// claims namespaced, e.g. "https://example.com/roles") or dot paths.
	RolesClaims []string
	// ClaimsNamespace, when set, is where an Action puts how the user
	// logged in: the claims ClaimsNamespace+"acr", +"amr" and
	// +"auth_time", read when the token lacks "acr", "amr" or
	// "auth_time" (which Auth0 does not let an Action set in an access
	// token). An http(s) URL ending in "/".
	ClaimsNamespace string
	// JWKSURI, when set, is where keys come from; discovery is skipped and
	// IssuerBaseURL is the "iss" exactly as given.
	JWKSURI string
	// Options are the engine's: algorithms (default RS256), clock
	// tolerance, cache and key fetching.
	jwtverify.Options
}

// Load reads the provider's settings from env, with opts for the engine,
// and checks them; errors name the setting.
func Load(env jwtverify.Env, opts jwtverify.Options) (Config, error) {
	c := Config{Options: opts}
	issuers, err := issuers(env)
	if err != nil {
		return Config{}, err
	}
	if len(issuers) == 1 {
		c.IssuerBaseURL = issuers[0]
	} else {
		c.Issuers = issuers
	}
	aud, from, err := jwtverify.ListSetting(env, "audience")
	if err != nil {
		return Config{}, err
	}
	if len(aud) == 0 {
		return Config{}, fmt.Errorf("%s is required: set it to your API's identifier (Auth0 dashboard > APIs), e.g. https://api.example.com", from)
	}
	c.Audiences = aud
	if c.JWKSURI, _, err = env("jwks-uri"); err != nil {
		return Config{}, err
	}
	if c.RolesClaims, _, err = jwtverify.ListSetting(env, "roles-claim"); err != nil {
		return Config{}, err
	}
	ns, nsFrom, err := env("auth0-claims-namespace")
	if err != nil {
		return Config{}, err
	}
	if c.ClaimsNamespace, err = claimsNamespace(ns); err != nil {
		return Config{}, fmt.Errorf("%s: %w", nsFrom, err)
	}
	if c.Algorithms, err = jwtverify.Algorithms(env); err != nil {
		return Config{}, err
	}
	return c, c.Check()
}

// issuers resolves ISSUER_BASE_URL (comma-separated for several tenants)
// and, for one tenant, its AUTH0_DOMAIN shortcut.
func issuers(env jwtverify.Env) ([]string, error) {
	iss, issFrom, err := env("issuer-base-url")
	if err != nil {
		return nil, err
	}
	dom, domFrom, err := env("auth0-domain")
	if err != nil {
		return nil, err
	}
	if strings.Contains(iss, ",") {
		if dom != "" {
			return nil, fmt.Errorf("%s is set, but it names one Auth0 issuer; with several issuers set %s alone", domFrom, issFrom)
		}
		return jwtverify.Issuers(env, "auth0")
	}
	if iss == "" && dom == "" {
		return nil, errors.New("ISSUER_BASE_URL (or AUTH0_DOMAIN) is required: set it to your token issuer, e.g. https://TENANT.auth0.com/")
	}
	if dom != "" {
		fromDomain := dom
		if !strings.Contains(dom, "://") {
			fromDomain = "https://" + dom
		}
		if !strings.HasSuffix(fromDomain, "/") {
			fromDomain += "/"
		}
		if err := jwtverify.CheckIssuerURL(fromDomain); err != nil {
			return nil, fmt.Errorf("%s: %w", domFrom, err)
		}
		if strings.Count(strings.SplitN(fromDomain, "://", 2)[1], "/") > 1 {
			return nil, fmt.Errorf("%s: %q should be a bare domain like TENANT.auth0.com", domFrom, dom)
		}
		if iss != "" && strings.TrimSuffix(iss, "/") != strings.TrimSuffix(fromDomain, "/") {
			return nil, fmt.Errorf("%s (%q) and %s (%q) name different issuers; set only one", issFrom, iss, domFrom, dom)
		}
		if iss == "" {
			return []string{fromDomain}, nil
		}
	}
	if err := jwtverify.CheckIssuerURL(iss); err != nil {
		return nil, fmt.Errorf("%s: %w", issFrom, err)
	}
	return []string{iss}, nil
}

// claimsNamespace checks AUTH0_CLAIMS_NAMESPACE: "" (none), or an
// http(s) URL, given a trailing "/" if it has none, as Auth0's namespaced
// claims are written ("https://example.com/acr").
func claimsNamespace(ns string) (string, error) {
	if ns == "" {
		return "", nil
	}
	u, err := url.Parse(ns)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(ns, " \t") {
		return "", fmt.Errorf("%q is not a namespace like https://example.com/ (an http or https URL)", ns)
	}
	if !strings.HasSuffix(ns, "/") {
		ns += "/"
	}
	return ns, nil
}

// Check reports what is wrong with c, if anything, as New would, naming
// the setting: "ISSUER_BASE_URL: ...".
func (c Config) Check() error {
	issuers := c.issuerNames()
	if len(issuers) == 0 {
		return errors.New("ISSUER_BASE_URL (or AUTH0_DOMAIN) is required: set it to your token issuer, e.g. https://TENANT.auth0.com/")
	}
	for i, iss := range issuers {
		if err := jwtverify.CheckIssuerURL(iss); err != nil {
			return fmt.Errorf("ISSUER_BASE_URL: %w", err)
		}
		if slices.Contains(issuers[:i], iss) {
			return fmt.Errorf("ISSUER_BASE_URL: %s is given twice", iss)
		}
	}
	if len(issuers) > 1 && c.JWKSURI != "" {
		return errors.New("JWKS_URI: cannot be shared by several issuers")
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
	if ns, err := claimsNamespace(c.ClaimsNamespace); err != nil || ns != c.ClaimsNamespace {
		return fmt.Errorf("AUTH0_CLAIMS_NAMESPACE: %q is not a namespace like https://example.com/ (an http or https URL ending in /)", c.ClaimsNamespace)
	}
	return nil
}

func (c *Config) issuerNames() []string {
	if len(c.Issuers) > 0 {
		return c.Issuers
	}
	if c.IssuerBaseURL != "" {
		return []string{c.IssuerBaseURL}
	}
	return nil
}

// New returns a verifier for cfg and starts fetching the tenants' keys in
// the background; it does not wait for them, so it succeeds while Auth0
// cannot be reached. The fetching stops when ctx ends or cleanup is
// called. The verifier's metrics are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.Check(); err != nil {
		return nil, nil, fmt.Errorf("auth0: %w", err)
	}
	// appid and cid are other issuers' names for the client, read as
	// before providers had packages of their own.
	claims := jwtverify.StandardMapping(cfg.RolesClaims...)
	if ns := cfg.ClaimsNamespace; ns != "" {
		claims.ACR = append(claims.ACR, ns+"acr")
		claims.AMR = append(claims.AMR, ns+"amr")
		claims.AuthTime = append(claims.AuthTime, ns+"auth_time")
	}
	var issuers []jwtverify.Issuer
	for _, name := range cfg.issuerNames() {
		issuers = append(issuers, jwtverify.Issuer{
			Name:      name,
			JWKSURI:   cfg.JWKSURI,
			Audiences: cfg.Audiences,
			Claims:    claims,
		})
	}
	v, cleanup, err := jwtverify.New(ctx, cfg.Options, issuers, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("auth0: %w", err)
	}
	return v, cleanup, nil
}

// AuthorizationServers lists the tenants whose tokens c accepts, as given:
// the authorization servers of the API's protected resource metadata
// (RFC 9728).
func (c Config) AuthorizationServers() []string { return slices.Clone(c.issuerNames()) }

// Endpoints are the authorization and token endpoints Auth0 gives every
// tenant (issuer): /authorize and /oauth/token.
func (c Config) Endpoints(issuer string) (authorization, token string) {
	base := strings.TrimSuffix(issuer, "/")
	return base + "/authorize", base + "/oauth/token"
}
