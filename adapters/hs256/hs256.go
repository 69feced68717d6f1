// Package hs256 verifies JWT access tokens signed with a shared secret
// (HS256, HS384, HS512), for systems that issue such tokens. The secret
// is never mixed with public keys, so a token cannot pass by naming a
// public key as its HMAC secret. It describes the issuers to the
// provider-neutral engine, adapters/jwtverify.
package hs256

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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

// Verifier checks access tokens with the shared secret.
type Verifier = jwtverify.Verifier

// Settings are the provider's own settings. The secret itself comes from
// the environment or a file, never a flag (flags show in ps).
var Settings = []jwtverify.Setting{
	{Flag: "hs256-secret-file", Var: "HS256_SECRET_FILE", Usage: "hs256: file holding the shared secret"},
	{Var: "HS256_SECRET", Usage: "hs256: the shared secret (environment only, never a flag)"},
}

// DefaultRolesClaim is where roles are when ROLES_CLAIM is not set.
const DefaultRolesClaim = "roles"

// Config says which tokens the verifier accepts.
type Config struct {
	// Issuers are the exact "iss" values accepted (any string without
	// spaces: nothing is fetched from them).
	Issuers []string
	// Audiences: a token's "aud" must contain at least one of them.
	Audiences []string
	// Secret is the shared secret: at least as long as the hash of each
	// algorithm (32 bytes for HS256).
	Secret []byte
	// RolesClaims are where roles are; empty means DefaultRolesClaim.
	RolesClaims []string
	// Options are the engine's; Algorithms default to HS256 and may be
	// HS256, HS384 and HS512 only.
	jwtverify.Options
}

// parseAlgorithms parses TOKEN_SIGNING_ALG for this provider: only HS256,
// HS384 and HS512.
func parseAlgorithms(list string) ([]string, error) {
	var algs []string
	for a := range strings.SplitSeq(list, ",") {
		a = strings.TrimSpace(a)
		if jwtverify.MinSecretSize(a) == 0 {
			return nil, fmt.Errorf("%q: the hs256 provider verifies only HS256, HS384 and HS512 (case-sensitive)", a)
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	return algs, nil
}

// Load reads the settings from env, with opts for the engine, and checks
// them; errors name the setting.
func Load(env jwtverify.Env, opts jwtverify.Options) (Config, error) {
	c := Config{Options: opts}
	var err error
	if c.Issuers, err = jwtverify.Issuers(env, "hs256"); err != nil {
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
		return Config{}, fmt.Errorf("%s: the hs256 provider fetches nothing; it verifies with the shared secret", from)
	}
	if c.RolesClaims, _, err = jwtverify.ListSetting(env, "roles-claim"); err != nil {
		return Config{}, err
	}
	algs, algFrom, err := env("token-signing-alg")
	if err != nil {
		return Config{}, err
	}
	if algs == "" {
		algs = "HS256"
	}
	if c.Algorithms, err = parseAlgorithms(algs); err != nil {
		return Config{}, fmt.Errorf("%s: %w", algFrom, err)
	}
	secret, secretFrom, err := env("HS256_SECRET")
	if err != nil {
		return Config{}, err
	}
	file, fileFrom, err := env("hs256-secret-file")
	if err != nil {
		return Config{}, err
	}
	switch {
	case secret != "" && file != "":
		return Config{}, fmt.Errorf("%s and %s are both set; set one of them", secretFrom, fileFrom)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", fileFrom, err)
		}
		c.Secret = []byte(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
		secretFrom = fileFrom
	default:
		c.Secret = []byte(secret)
	}
	if err := checkSecret(c.Secret, c.Algorithms); err != nil {
		return Config{}, fmt.Errorf("%s: %w", secretFrom, err)
	}
	return c, c.Check()
}

// checkSecret checks a secret is long enough for algs (RFC 7518 §3.2: at
// least the hash size, 32 bytes for HS256).
func checkSecret(secret []byte, algs []string) error {
	need := jwtverify.MinSecretSize("HS256")
	for _, a := range algs {
		need = max(need, jwtverify.MinSecretSize(a))
	}
	if len(secret) < need {
		return fmt.Errorf("is %d bytes; %v needs at least %d random bytes", len(secret), algs, need)
	}
	return nil
}

// Check reports what is wrong with c, if anything, as New would, naming
// the setting.
func (c Config) Check() error {
	if len(c.Issuers) == 0 {
		return errors.New("ISSUER_BASE_URL: required")
	}
	for i, iss := range c.Issuers {
		if strings.TrimSpace(iss) == "" || strings.ContainsAny(iss, " \t\r\n") {
			return fmt.Errorf("ISSUER_BASE_URL: %q must be the exact iss of the tokens, without spaces", iss)
		}
		if slices.Contains(c.Issuers[:i], iss) {
			return fmt.Errorf("ISSUER_BASE_URL: %s is given twice", iss)
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
	algs := c.Algorithms
	if len(algs) == 0 {
		algs = []string{"HS256"}
	}
	if _, err := parseAlgorithms(strings.Join(algs, ",")); err != nil {
		return fmt.Errorf("TOKEN_SIGNING_ALG: %w", err)
	}
	if err := checkSecret(c.Secret, algs); err != nil {
		return fmt.Errorf("HS256_SECRET: %w", err)
	}
	return nil
}

// New returns a verifier for cfg, ready at once. The verifier's metrics
// are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.Check(); err != nil {
		return nil, nil, fmt.Errorf("hs256: %w", err)
	}
	roles := cfg.RolesClaims
	if len(roles) == 0 {
		roles = []string{DefaultRolesClaim}
	}
	var issuers []jwtverify.Issuer
	for _, name := range cfg.Issuers {
		issuers = append(issuers, jwtverify.Issuer{
			Name: name, Secret: cfg.Secret, Audiences: cfg.Audiences,
			Claims: jwtverify.StandardMapping(roles...),
		})
	}
	v, cleanup, err := jwtverify.New(ctx, cfg.Options, issuers, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("hs256: %w", err)
	}
	return v, cleanup, nil
}
