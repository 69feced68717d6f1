// Package okta verifies the access tokens of an Okta custom authorization
// server: the issuer is https://OKTA_DOMAIN/oauth2/OKTA_AUTH_SERVER (the
// built-in one is "default"), its keys come by discovery, scopes are the
// "scp" array, roles the "groups" claim (add a Groups claim to the
// authorization server), the client "cid". It describes the server to the
// provider-neutral engine, adapters/jwtverify.
//
// The org authorization server (issuer https://OKTA_DOMAIN, no /oauth2/)
// issues access tokens for Okta's own APIs only; they are not accepted.
package okta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.TokenVerifier = (*Verifier)(nil)
	_ ports.Readiness     = (*Verifier)(nil)
)

// Verifier checks access tokens against the authorization server.
type Verifier = jwtverify.Verifier

// Settings are the provider's own settings.
var Settings = []jwtverify.Setting{
	{Flag: "okta-domain", Var: "OKTA_DOMAIN", Usage: "okta: your Okta domain, e.g. dev-123456.okta.com or a custom domain"},
	{Flag: "okta-auth-server", Var: "OKTA_AUTH_SERVER", Usage: "okta: the custom authorization server's ID (default default)"},
}

// DefaultAuthServer is the authorization server every Okta org has, and
// DefaultAudience its audience.
const (
	DefaultAuthServer = "default"
	DefaultAudience   = "api://default"
)

// Config locates the authorization server.
type Config struct {
	// Domain is the Okta domain, "dev-123456.okta.com" or a custom domain
	// ("https://" may be given; "http://" only for loopback, in tests).
	Domain string
	// AuthServer is the custom authorization server's ID; default
	// DefaultAuthServer.
	AuthServer string
	// Audiences: a token's "aud" must contain one. Default
	// DefaultAudience for the default server; required for others.
	Audiences []string
	// RolesClaims are more places for roles, after "groups".
	RolesClaims []string
	// Options are the engine's.
	jwtverify.Options
}

var serverID = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// Load reads the settings from env, with opts for the engine, and checks
// them; errors name the setting.
func Load(env jwtverify.Env, opts jwtverify.Options) (Config, error) {
	c := Config{Options: opts}
	if err := jwtverify.Unset(env, "AUTH_PROVIDER=okta derives the issuer and keys from OKTA_DOMAIN and OKTA_AUTH_SERVER", "issuer-base-url", "jwks-uri"); err != nil {
		return Config{}, err
	}
	var err error
	if c.Domain, _, err = env("okta-domain"); err != nil {
		return Config{}, err
	}
	if c.AuthServer, _, err = env("okta-auth-server"); err != nil {
		return Config{}, err
	}
	if _, err := c.origin(); err != nil {
		return Config{}, err
	}
	aud, audFrom, err := jwtverify.ListSetting(env, "audience")
	if err != nil {
		return Config{}, err
	}
	if len(aud) == 0 && c.AuthServer != "" && c.AuthServer != DefaultAuthServer {
		return Config{}, fmt.Errorf("%s is required with OKTA_AUTH_SERVER=%s: that authorization server's audience (Security > API > Authorization Servers)", audFrom, c.AuthServer)
	}
	c.Audiences = aud
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
	if _, err := c.origin(); err != nil {
		return err
	}
	if c.AuthServer != "" && !serverID.MatchString(c.AuthServer) {
		return fmt.Errorf("OKTA_AUTH_SERVER: %q is not an authorization server ID like default or aus1a2b3c4d5e6f7g8h9", c.AuthServer)
	}
	if len(c.Audiences) == 0 && c.AuthServer != "" && c.AuthServer != DefaultAuthServer {
		return fmt.Errorf("AUDIENCE: required with OKTA_AUTH_SERVER=%s", c.AuthServer)
	}
	for _, a := range c.Audiences {
		if strings.TrimSpace(a) == "" {
			return errors.New("AUDIENCE: empty audience")
		}
	}
	return nil
}

// origin returns https://DOMAIN from Domain, or says what is wrong.
func (c Config) origin() (string, error) {
	if c.Domain == "" {
		return "", errors.New("OKTA_DOMAIN is required for AUTH_PROVIDER=okta: your Okta domain, e.g. dev-123456.okta.com")
	}
	raw := c.Domain
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := jwtverify.CheckURL(strings.TrimSuffix(raw, "/"))
	if err != nil {
		return "", fmt.Errorf("OKTA_DOMAIN: %w", err)
	}
	if u.Path != "" {
		return "", fmt.Errorf("OKTA_DOMAIN: %q should be a bare domain like dev-123456.okta.com (the issuer is https://DOMAIN/oauth2/%s)", c.Domain, c.server())
	}
	if label, _, _ := strings.Cut(u.Hostname(), "."); strings.HasSuffix(label, "-admin") {
		return "", fmt.Errorf("OKTA_DOMAIN: %q is the Admin Console's domain; use the org's, without -admin", c.Domain)
	}
	return u.Scheme + "://" + u.Host, nil
}

func (c Config) server() string {
	if c.AuthServer == "" {
		return DefaultAuthServer
	}
	return c.AuthServer
}

// Issuer returns the authorization server's issuer, the "iss" of its
// tokens.
func (c Config) Issuer() string {
	origin, _ := c.origin()
	return origin + "/oauth2/" + c.server()
}

// New returns a verifier for the authorization server and starts fetching
// its keys in the background; it does not wait for them. The fetching
// stops when ctx ends or cleanup is called. The verifier's metrics are
// registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.Check(); err != nil {
		return nil, nil, fmt.Errorf("okta: %w", err)
	}
	audiences := cfg.Audiences
	if len(audiences) == 0 {
		audiences = []string{DefaultAudience}
	}
	v, cleanup, err := jwtverify.New(ctx, cfg.Options, []jwtverify.Issuer{{
		Name:      cfg.Issuer(),
		Audiences: audiences,
		Check:     check,
		Claims: jwtverify.Mapping{
			ScopeList: "scp",
			Clients:   []string{"cid"},
			Roles:     append([]string{"groups"}, cfg.RolesClaims...),
			ACR:       []string{"acr"}, AMR: []string{"amr"}, AuthTime: []string{"auth_time"},
		},
	}}, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("okta: %w", err)
	}
	return v, cleanup, nil
}

// check refuses tokens without "cid": Okta puts it in every access token
// (the client it was issued to), and in no ID token.
func check(claims map[string]any) error {
	cid, present := claims["cid"]
	if s, ok := cid.(string); present && !ok {
		return domain.InvalidToken(domain.ReasonClaimType, errors.New(`okta: "cid" is not a string`))
	} else if s == "" {
		return domain.InvalidToken(domain.ReasonType, errors.New(`okta: no "cid": not an access token`))
	}
	return nil
}
