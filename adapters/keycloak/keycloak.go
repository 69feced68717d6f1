// Package keycloak verifies the access tokens of a Keycloak realm. The
// issuer, KEYCLOAK_URL/realms/KEYCLOAK_REALM, and its keys (by discovery)
// follow from the realm; roles are the realm's (realm_access.roles) and,
// with KEYCLOAK_CLIENT_ID, that client's (resource_access.<client>.roles);
// the client that asked for the token is "azp". It describes the realm to
// the provider-neutral engine, adapters/jwtverify.
//
// Audience: Keycloak puts a client's ID in "aud" when the user holds one
// of that client's roles (the Audience Resolve mapper every realm has) or
// when an Audience mapper adds it. So the API is a client of the realm,
// KEYCLOAK_CLIENT_ID, and by default its tokens must name it in "aud";
// AUDIENCE replaces that.
package keycloak

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

// Verifier checks access tokens against the realm.
type Verifier = jwtverify.Verifier

// Settings are the provider's own settings.
var Settings = []jwtverify.Setting{
	{Flag: "keycloak-url", Var: "KEYCLOAK_URL", Usage: "keycloak: the server, e.g. https://keycloak.example.com (with /auth for Keycloak before 17)"},
	{Flag: "keycloak-realm", Var: "KEYCLOAK_REALM", Usage: "keycloak: the realm whose tokens are accepted"},
	{Flag: "keycloak-client-id", Var: "KEYCLOAK_CLIENT_ID", Usage: "keycloak: the API's client in the realm: the default audience, and whose client roles count"},
}

// Config locates the realm and the API's client in it.
type Config struct {
	// URL is the Keycloak server, e.g. "https://keycloak.example.com"
	// (Keycloak before 17 served under "/auth").
	URL string
	// Realm is the realm's name.
	Realm string
	// ClientID is the API's client in the realm: its client roles are
	// roles, and it is the default audience.
	ClientID string
	// Audiences: a token's "aud" must contain one; default ClientID.
	Audiences []string
	// RolesClaims are more places for roles, after the realm's and the
	// client's roles.
	RolesClaims []string
	// Options are the engine's.
	jwtverify.Options
}

var realmName = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// Load reads the settings from env, with opts for the engine, and checks
// them; errors name the setting.
func Load(env jwtverify.Env, opts jwtverify.Options) (Config, error) {
	c := Config{Options: opts}
	if err := jwtverify.Unset(env, "AUTH_PROVIDER=keycloak derives the issuer and keys from KEYCLOAK_URL and KEYCLOAK_REALM", "issuer-base-url", "jwks-uri"); err != nil {
		return Config{}, err
	}
	var err error
	for _, s := range []struct {
		name string
		dst  *string
	}{{"keycloak-url", &c.URL}, {"keycloak-realm", &c.Realm}, {"keycloak-client-id", &c.ClientID}} {
		if *s.dst, _, err = env(s.name); err != nil {
			return Config{}, err
		}
	}
	if err := c.checkRealm(); err != nil {
		return Config{}, err
	}
	aud, audFrom, err := jwtverify.ListSetting(env, "audience")
	if err != nil {
		return Config{}, err
	}
	if len(aud) == 0 && c.ClientID == "" {
		return Config{}, fmt.Errorf("%s or KEYCLOAK_CLIENT_ID is required: the API's client ID in the realm, which Keycloak puts in aud (through client roles or an Audience mapper)", audFrom)
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
	if err := c.checkRealm(); err != nil {
		return err
	}
	if strings.TrimSpace(c.ClientID) != c.ClientID {
		return fmt.Errorf("KEYCLOAK_CLIENT_ID: %q has surrounding spaces", c.ClientID)
	}
	if len(c.Audiences) == 0 && c.ClientID == "" {
		return errors.New("AUDIENCE or KEYCLOAK_CLIENT_ID is required")
	}
	for _, a := range c.Audiences {
		if strings.TrimSpace(a) == "" {
			return errors.New("AUDIENCE: empty audience")
		}
	}
	return nil
}

// checkRealm checks the settings that locate the realm.
func (c Config) checkRealm() error {
	if c.URL == "" {
		return errors.New("KEYCLOAK_URL is required for AUTH_PROVIDER=keycloak: the server, e.g. https://keycloak.example.com")
	}
	u, err := jwtverify.CheckURL(c.URL)
	if err != nil {
		return fmt.Errorf("KEYCLOAK_URL: %w", err)
	}
	if i := strings.Index(u.Path, "/realms/"); i >= 0 {
		return fmt.Errorf("KEYCLOAK_URL: %q is a realm's URL; set KEYCLOAK_URL=%s://%s%s and KEYCLOAK_REALM=%s",
			c.URL, u.Scheme, u.Host, u.Path[:i], strings.SplitN(u.Path[i+len("/realms/"):], "/", 2)[0])
	}
	if c.Realm == "" {
		return errors.New("KEYCLOAK_REALM is required for AUTH_PROVIDER=keycloak: the realm whose tokens are accepted")
	}
	if !realmName.MatchString(c.Realm) {
		return fmt.Errorf("KEYCLOAK_REALM: %q is not a realm name (letters, digits, - _ . ~)", c.Realm)
	}
	return nil
}

// Issuer returns the realm's issuer, the "iss" of its tokens.
func (c Config) Issuer() string {
	return strings.TrimSuffix(c.URL, "/") + "/realms/" + c.Realm
}

// New returns a verifier for the realm and starts fetching its keys in
// the background; it does not wait for them. The fetching stops when ctx
// ends or cleanup is called. The verifier's metrics are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.Check(); err != nil {
		return nil, nil, fmt.Errorf("keycloak: %w", err)
	}
	audiences := cfg.Audiences
	if len(audiences) == 0 {
		audiences = []string{cfg.ClientID}
	}
	roleKeys := [][]string{{"realm_access", "roles"}}
	if cfg.ClientID != "" {
		roleKeys = append(roleKeys, []string{"resource_access", cfg.ClientID, "roles"})
	}
	v, cleanup, err := jwtverify.New(ctx, cfg.Options, []jwtverify.Issuer{{
		Name:      cfg.Issuer(),
		Audiences: audiences,
		Check:     check,
		Claims: jwtverify.Mapping{
			Scope:    "scope",
			Clients:  []string{"azp", "client_id"},
			RoleKeys: roleKeys,
			Roles:    cfg.RolesClaims,
			// Keycloak's levels of authentication (LoA) are its "acr".
			ACR: []string{"acr"}, AMR: []string{"amr"}, AuthTime: []string{"auth_time"},
		},
	}}, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("keycloak: %w", err)
	}
	return v, cleanup, nil
}

// check refuses Keycloak's other tokens: its ID tokens carry "typ":"ID",
// refresh tokens "Refresh", access tokens "Bearer".
func check(claims map[string]any) error {
	typ, present := claims["typ"]
	if !present {
		return nil
	}
	if s, ok := typ.(string); !ok || s != "Bearer" {
		return domain.InvalidToken(domain.ReasonType, errors.New(`keycloak: "typ" claim is not "Bearer": not an access token`))
	}
	return nil
}
