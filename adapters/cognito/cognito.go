// Package cognito verifies the access tokens of an Amazon Cognito user
// pool. The issuer and keys follow from the pool ID; the tokens have no
// "aud", so "client_id" must be one of the configured app clients and
// "token_use" must be "access" (an ID token is refused); groups
// ("cognito:groups") are roles. It describes the pool to the
// provider-neutral engine, adapters/jwtverify.
package cognito

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

// Verifier checks access tokens against the user pool.
type Verifier = jwtverify.Verifier

// Settings are the provider's own settings.
var Settings = []jwtverify.Setting{
	{Flag: "cognito-user-pool-id", Var: "COGNITO_USER_POOL_ID", Usage: "cognito: the user pool, e.g. eu-west-1_AbCdEf123"},
	{Flag: "cognito-region", Var: "COGNITO_REGION", Usage: "cognito: the pool's region (optional; must match the pool ID)"},
	{Flag: "cognito-client-ids", Var: "COGNITO_CLIENT_IDS", Usage: "cognito: app client IDs whose access tokens are accepted, comma-separated"},
	{Flag: "cognito-endpoint", Var: "COGNITO_ENDPOINT", Usage: "cognito: replaces https://cognito-idp.REGION.amazonaws.com"},
}

// Config locates a user pool and says which app clients' tokens to accept.
type Config struct {
	// UserPoolID, e.g. "eu-west-1_AbCdEf123"; its prefix is the region.
	UserPoolID string
	// Region, if set, must match the pool ID's prefix.
	Region string
	// ClientIDs are the app clients whose access tokens are accepted.
	ClientIDs []string
	// Endpoint replaces https://cognito-idp.REGION.amazonaws.com (tests,
	// private endpoints). The issuer is Endpoint + "/" + UserPoolID.
	Endpoint string
	// RolesClaims are more places for roles, after cognito:groups.
	RolesClaims []string
	// Options are the engine's.
	jwtverify.Options
}

var pool = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$`)

// checkPool checks a user pool ID and returns its region.
func checkPool(id string) (region string, err error) {
	m := pool.FindStringSubmatch(id)
	if m == nil {
		return "", fmt.Errorf("%q is not a user pool ID like eu-west-1_AbCdEf123", id)
	}
	return m[1], nil
}

// Load reads the settings from env, with opts for the engine, and checks
// them; errors name the setting.
func Load(env jwtverify.Env, opts jwtverify.Options) (Config, error) {
	c := Config{Options: opts}
	if err := jwtverify.Unset(env, "AUTH_PROVIDER=cognito derives the issuer and keys from its own settings", "issuer-base-url", "jwks-uri"); err != nil {
		return Config{}, err
	}
	if err := jwtverify.Unset(env, "Cognito access tokens have no aud; list the app clients in COGNITO_CLIENT_IDS", "audience"); err != nil {
		return Config{}, err
	}
	var err error
	if c.RolesClaims, _, err = jwtverify.ListSetting(env, "roles-claim"); err != nil {
		return Config{}, err
	}
	if c.Algorithms, err = jwtverify.Algorithms(env); err != nil {
		return Config{}, err
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"cognito-user-pool-id", &c.UserPoolID}, {"cognito-region", &c.Region}, {"cognito-endpoint", &c.Endpoint}} {
		if *s.dst, _, err = env(s.name); err != nil {
			return Config{}, err
		}
	}
	if c.ClientIDs, _, err = jwtverify.ListSetting(env, "cognito-client-ids"); err != nil {
		return Config{}, err
	}
	return c, c.Check()
}

// Check reports what is wrong with c, if anything, as New would, naming
// the setting.
func (c Config) Check() error {
	region, err := checkPool(c.UserPoolID)
	if err != nil {
		return fmt.Errorf("COGNITO_USER_POOL_ID: %w", err)
	}
	if c.Region != "" && c.Region != region {
		return fmt.Errorf("COGNITO_REGION: %q, but the user pool %s is in %s", c.Region, c.UserPoolID, region)
	}
	if len(c.ClientIDs) == 0 {
		return errors.New("COGNITO_CLIENT_IDS: at least one app client ID is required (Cognito access tokens carry client_id, not aud)")
	}
	if c.Endpoint != "" {
		if _, err := jwtverify.CheckURL(c.Endpoint); err != nil {
			return fmt.Errorf("COGNITO_ENDPOINT: %w", err)
		}
	}
	return nil
}

// Issuer returns the pool's issuer, the "iss" of its tokens.
func (c Config) Issuer() string {
	endpoint := c.Endpoint
	if endpoint == "" {
		region, _ := checkPool(c.UserPoolID)
		endpoint = "https://cognito-idp." + region + ".amazonaws.com"
	}
	return strings.TrimSuffix(endpoint, "/") + "/" + c.UserPoolID
}

// New returns a verifier for the pool and starts fetching its keys in the
// background; it does not wait for them. The fetching stops when ctx ends
// or cleanup is called. The verifier's metrics are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.Check(); err != nil {
		return nil, nil, fmt.Errorf("cognito: %w", err)
	}
	clients := slices.Clone(cfg.ClientIDs)
	v, cleanup, err := jwtverify.New(ctx, cfg.Options, []jwtverify.Issuer{{
		Name: cfg.Issuer(),
		// No Audiences: access tokens have none; check binds them to the
		// configured app clients instead.
		Check:  func(claims map[string]any) error { return check(claims, clients) },
		Claims: jwtverify.StandardMapping(append([]string{"cognito:groups"}, cfg.RolesClaims...)...),
	}}, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("cognito: %w", err)
	}
	return v, cleanup, nil
}

// check refuses ID tokens and tokens of other app clients.
func check(claims map[string]any, clients []string) error {
	if use, _ := claims["token_use"].(string); use != "access" {
		return domain.InvalidToken(domain.ReasonType, errors.New(`cognito: "token_use" is not "access"`))
	}
	if id, _ := claims["client_id"].(string); !slices.Contains(clients, id) {
		return domain.InvalidToken(domain.ReasonAudience, errors.New(`cognito: "client_id" is not a configured app client`))
	}
	return nil
}
