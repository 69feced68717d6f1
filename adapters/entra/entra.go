// Package entra verifies Microsoft Entra ID access tokens for one tenant
// and one API app registration: v2.0 and v1.0 tokens (two issuers, one key
// set from the v2.0 discovery), "aud" the application ID URI or client ID,
// "tid" and "ver" consistent with the issuer, scopes from "scp", app roles
// from "roles" (app-only tokens have roles and no scp), the client from
// "azp" (v2) or "appid" (v1). It describes the tenant to the
// provider-neutral engine, adapters/jwtverify.
package entra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
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

// Verifier checks access tokens against the tenant.
type Verifier = jwtverify.Verifier

// Settings are the provider's own settings.
var Settings = []jwtverify.Setting{
	{Flag: "entra-tenant-id", Var: "ENTRA_TENANT_ID", Usage: "entra: the directory (tenant) ID"},
	{Flag: "entra-client-id", Var: "ENTRA_CLIENT_ID", Usage: "entra: the API's application (client) ID"},
	{Flag: "entra-authority", Var: "ENTRA_AUTHORITY", Usage: "entra: replaces https://login.microsoftonline.com"},
}

// Config locates the tenant and the API's app registration.
type Config struct {
	// TenantID is the directory (tenant) ID, a GUID.
	TenantID string
	// ClientID is the API's application (client) ID, a GUID. Tokens whose
	// "aud" is it, or one of Audiences, are accepted.
	ClientID string
	// Audiences are the application ID URIs; default api://CLIENT_ID.
	Audiences []string
	// Authority replaces https://login.microsoftonline.com (national
	// clouds, tests).
	Authority string
	// RolesClaims are more places for roles, after "roles".
	RolesClaims []string
	// Options are the engine's.
	jwtverify.Options
}

// v1Issuer is the issuer of Entra v1.0 access tokens.
const v1Issuer = "https://sts.windows.net/%s/"

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkGUID checks a tenant or client ID.
func checkGUID(id string) error {
	if !guid.MatchString(id) {
		return fmt.Errorf("%q is not a GUID like 00000000-0000-0000-0000-000000000000 (find it on the app's Overview page)", id)
	}
	return nil
}

// Load reads the settings from env, with opts for the engine, and checks
// them; errors name the setting.
func Load(env jwtverify.Env, opts jwtverify.Options) (Config, error) {
	c := Config{Options: opts}
	if err := jwtverify.Unset(env, "AUTH_PROVIDER=entra derives the issuer and keys from its own settings", "issuer-base-url", "jwks-uri"); err != nil {
		return Config{}, err
	}
	var err error
	if c.Audiences, _, err = jwtverify.ListSetting(env, "audience"); err != nil {
		return Config{}, err
	}
	if c.RolesClaims, _, err = jwtverify.ListSetting(env, "roles-claim"); err != nil {
		return Config{}, err
	}
	if c.Algorithms, err = jwtverify.Algorithms(env); err != nil {
		return Config{}, err
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"entra-tenant-id", &c.TenantID}, {"entra-client-id", &c.ClientID}, {"entra-authority", &c.Authority}} {
		if *s.dst, _, err = env(s.name); err != nil {
			return Config{}, err
		}
	}
	return c, c.Check()
}

// Check reports what is wrong with c, if anything, as New would, naming
// the setting.
func (c Config) Check() error {
	if err := checkGUID(c.TenantID); err != nil {
		return fmt.Errorf("ENTRA_TENANT_ID: %w", err)
	}
	if err := checkGUID(c.ClientID); err != nil {
		return fmt.Errorf("ENTRA_CLIENT_ID: %w", err)
	}
	if c.Authority != "" {
		if _, err := jwtverify.CheckURL(c.Authority); err != nil {
			return fmt.Errorf("ENTRA_AUTHORITY: %w", err)
		}
	}
	for _, a := range c.Audiences {
		if strings.TrimSpace(a) == "" {
			return errors.New("AUDIENCE: empty audience")
		}
	}
	return nil
}

// New returns a verifier for the tenant and starts fetching its keys in
// the background; it does not wait for them. The fetching stops when ctx
// ends or cleanup is called. The verifier's metrics are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.Check(); err != nil {
		return nil, nil, fmt.Errorf("entra: %w", err)
	}
	tenant := strings.ToLower(cfg.TenantID)
	v2 := cfg.Issuer()
	v1 := fmt.Sprintf(v1Issuer, tenant)
	audiences := cfg.Audiences
	if len(audiences) == 0 {
		audiences = []string{"api://" + cfg.ClientID}
	}
	audiences = append(slices.Clone(audiences), cfg.ClientID)
	v, cleanup, err := jwtverify.New(ctx, cfg.Options, []jwtverify.Issuer{{
		Name:      v2,
		AlsoNames: []string{v1},
		Audiences: audiences,
		Check:     func(claims map[string]any) error { return check(claims, tenant, v1) },
		Claims:    jwtverify.StandardMapping(append([]string{"roles"}, cfg.RolesClaims...)...),
	}}, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("entra: %w", err)
	}
	return v, cleanup, nil
}

// check refuses tokens whose "ver" does not match their issuer, and those
// of another tenant.
func check(claims map[string]any, tenant, v1 string) error {
	iss, _ := claims["iss"].(string)
	ver, _ := claims["ver"].(string)
	if ver != "" && (iss == v1) != (ver == "1.0") {
		return domain.InvalidToken(domain.ReasonIssuer, fmt.Errorf("entra: ver %q does not match issuer", ver))
	}
	if tid, ok := claims["tid"].(string); ok && !strings.EqualFold(tid, tenant) {
		return domain.InvalidToken(domain.ReasonIssuer, errors.New(`entra: "tid" is another tenant`))
	}
	return nil
}

// Issuer is the issuer of the tenant's v2.0 tokens, whose discovery
// document names its endpoints: the authorization server of the API's
// protected resource metadata (RFC 9728).
func (c Config) Issuer() string {
	authority := c.Authority
	if authority == "" {
		authority = "https://login.microsoftonline.com"
	}
	return strings.TrimSuffix(authority, "/") + "/" + strings.ToLower(c.TenantID) + "/v2.0"
}
