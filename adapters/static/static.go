// Package static verifies JWT access tokens with keys from a file — a PEM
// file (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE blocks), one JWK or a
// JWKS — and nothing from the network: for air-gapped deployments and
// tests. The same key rules as for a fetched JWKS apply. It describes the
// issuers to the provider-neutral engine, adapters/jwtverify.
package static

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

// Verifier checks access tokens with the file's keys.
type Verifier = jwtverify.Verifier

// Settings are the provider's own settings.
var Settings = []jwtverify.Setting{
	{Flag: "key-file", Var: "KEY_FILE", Usage: "static: the PEM, JWK or JWKS file holding the verification keys"},
}

// DefaultRolesClaim is where roles are when ROLES_CLAIM is not set.
const DefaultRolesClaim = "roles"

// Config says which tokens the verifier accepts.
type Config struct {
	// Issuers are the exact "iss" values accepted (any string without
	// spaces: nothing is fetched from them); all share the file's keys.
	Issuers []string
	// Audiences: a token's "aud" must contain at least one of them.
	Audiences []string
	// KeyFile is the PEM, JWK or JWKS file. PEM keys have no kid and
	// verify tokens whatever kid they name.
	KeyFile string
	// RolesClaims are where roles are; empty means DefaultRolesClaim.
	RolesClaims []string
	// Options are the engine's (key fetching does not apply).
	jwtverify.Options
}

// Load reads the settings from env, with opts for the engine, and checks
// them; errors name the setting.
func Load(env jwtverify.Env, opts jwtverify.Options) (Config, error) {
	c := Config{Options: opts}
	var err error
	if c.Issuers, err = jwtverify.Issuers(env, "static"); err != nil {
		return Config{}, err
	}
	aud, from, err := jwtverify.ListSetting(env, "audience")
	if err != nil {
		return Config{}, err
	}
	if len(aud) == 0 {
		return Config{}, fmt.Errorf("%s is required: set it to your API's identifier, the aud of the tokens, e.g. https://api.example.com", from)
	}
	c.Audiences = aud
	if v, from, err := env("jwks-uri"); err != nil {
		return Config{}, err
	} else if v != "" {
		return Config{}, fmt.Errorf("%s: the static provider fetches nothing; give the keys in KEY_FILE", from)
	}
	if c.RolesClaims, _, err = jwtverify.ListSetting(env, "roles-claim"); err != nil {
		return Config{}, err
	}
	if c.Algorithms, err = jwtverify.Algorithms(env); err != nil {
		return Config{}, err
	}
	if c.KeyFile, _, err = env("key-file"); err != nil {
		return Config{}, err
	}
	return c, c.Check()
}

// Check reports what is wrong with c, if anything, as New would, naming
// the setting.
func (c Config) Check() error {
	_, err := c.keys()
	return err
}

// keys checks c and loads the key file.
func (c *Config) keys() (jwtverify.Issuer, error) {
	if len(c.Issuers) == 0 {
		return jwtverify.Issuer{}, errors.New("ISSUER_BASE_URL: required")
	}
	for i, iss := range c.Issuers {
		if strings.TrimSpace(iss) == "" || strings.ContainsAny(iss, " \t\r\n") {
			return jwtverify.Issuer{}, fmt.Errorf("ISSUER_BASE_URL: %q must be the exact iss of the tokens, without spaces", iss)
		}
		if slices.Contains(c.Issuers[:i], iss) {
			return jwtverify.Issuer{}, fmt.Errorf("ISSUER_BASE_URL: %s is given twice", iss)
		}
	}
	if len(c.Audiences) == 0 {
		return jwtverify.Issuer{}, errors.New("AUDIENCE: at least one audience is required")
	}
	for _, a := range c.Audiences {
		if strings.TrimSpace(a) == "" {
			return jwtverify.Issuer{}, errors.New("AUDIENCE: empty audience")
		}
	}
	algs := c.Algorithms
	if len(algs) == 0 {
		algs = []string{"RS256"}
	}
	if _, err := jwtverify.ParseAlgorithms(strings.Join(algs, ",")); err != nil {
		return jwtverify.Issuer{}, fmt.Errorf("TOKEN_SIGNING_ALG: %w", err)
	}
	if c.KeyFile == "" {
		return jwtverify.Issuer{}, errors.New("KEY_FILE: required (a PEM, JWK or JWKS file)")
	}
	keys, err := jwtverify.LoadKeyFile(c.KeyFile, algs)
	if err != nil {
		return jwtverify.Issuer{}, fmt.Errorf("KEY_FILE: %w", err)
	}
	roles := c.RolesClaims
	if len(roles) == 0 {
		roles = []string{DefaultRolesClaim}
	}
	return jwtverify.Issuer{
		Keys: keys, Audiences: c.Audiences,
		Claims: jwtverify.StandardMapping(roles...),
	}, nil
}

// New returns a verifier for cfg, ready at once: its keys are read from
// the file now. The verifier's metrics are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	spec, err := cfg.keys()
	if err != nil {
		return nil, nil, fmt.Errorf("static: %w", err)
	}
	var issuers []jwtverify.Issuer
	for _, name := range cfg.Issuers {
		spec.Name = name
		issuers = append(issuers, spec)
	}
	v, cleanup, err := jwtverify.New(ctx, cfg.Options, issuers, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("static: %w", err)
	}
	return v, cleanup, nil
}
