package auth0

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/example/spaapi/adapters/jwtverify"
)

// Config says which tokens the verifier accepts. cmd/api builds it from the
// environment; tests build it directly.
type Config struct {
	// Provider is the identity provider whose token shape to expect:
	// ProviderAuth0 (the default), ProviderOIDC, ProviderCognito,
	// ProviderEntra, ProviderStatic or ProviderHS256. See provider.go.
	Provider string
	// IssuerBaseURL is the issuer, e.g. "https://TENANT.auth0.com/". It is
	// the base for discovery and, unless discovery returns the same URL
	// with or without a trailing slash, the exact "iss" tokens must carry.
	// (Cognito and Entra derive it from their settings instead.)
	IssuerBaseURL string
	// Issuers, when set, replaces IssuerBaseURL with several issuers of the
	// same provider: a token's "iss" picks one, and only that issuer's keys
	// may verify it.
	Issuers []string
	// Audiences: a token's "aud" must contain at least one of them.
	// (Cognito access tokens have no "aud": see Cognito.ClientIDs.)
	Audiences []string
	// RolesClaims are where roles are: claim names, or dot paths into
	// nested objects ("realm_access.roles"). Cognito adds cognito:groups
	// and Entra adds roles on their own.
	RolesClaims []string
	// Cognito and Entra are those providers' settings.
	Cognito CognitoConfig
	Entra   EntraConfig
	// KeyFile is the static provider's PEM, JWK or JWKS file.
	KeyFile string
	// Secret is the hs256 provider's shared secret, at least 32 bytes.
	Secret []byte
	// JWKSURI, when set, is where keys come from; discovery is skipped and
	// IssuerBaseURL is used as the "iss" exactly as given.
	JWKSURI string
	// Algorithms allowed in a token's "alg" header. Empty means RS256.
	Algorithms []string
	// ClockTolerance is the leeway for "exp", "nbf" and "iat".
	ClockTolerance time.Duration
	// CacheSize bounds the verified-token cache in entries; 0 disables it.
	CacheSize int
	// CacheTTL is the longest an entry is trusted (default 5m); never past
	// the token's own exp.
	CacheTTL time.Duration

	// The rest tune key fetching; zero values mean the defaults.

	// HTTPClient fetches discovery and JWKS documents. nil means a client
	// with FetchTimeout, the system's trusted roots (so SSL_CERT_FILE
	// works) and no redirects from https to http.
	HTTPClient *http.Client
	// FetchTimeout bounds one discovery or JWKS request (default 5s).
	FetchTimeout time.Duration
	// RefreshInterval is how often keys are fetched again (default 5m).
	RefreshInterval time.Duration
	// UnknownKeyCooldown is the least time between two fetches caused by
	// tokens with an unknown "kid" (default 5s), so a flood of random kids
	// costs one fetch per cooldown while a rotated key is picked up at once.
	UnknownKeyCooldown time.Duration
	// MaxWait is the longest a request waits for a fetch (default 3s).
	MaxWait time.Duration
	// RetryMax caps the back-off between failed fetches (default 10s), so
	// keys arrive within seconds of the issuer coming back.
	RetryMax time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Defaults, limits and checks of the engine, for cmd/api.
const (
	DefaultUnknownKeyCooldown = jwtverify.DefaultUnknownKeyCooldown
	DefaultMaxWait            = jwtverify.DefaultMaxWait
	DefaultCacheSize          = jwtverify.DefaultCacheSize
	DefaultCacheTTL           = jwtverify.DefaultCacheTTL
)

var (
	ParseAlgorithms = jwtverify.ParseAlgorithms
	CheckURL        = jwtverify.CheckURL
	CheckIssuerURL  = jwtverify.CheckIssuerURL
	IsLoopback      = jwtverify.IsLoopback
)

// Check reports what is wrong with c, if anything, as New would: one error
// whose text starts with the setting ("issuer: ...", "cognito user pool
// id: ...").
func (c Config) Check() error { return c.validate() }

// validate checks c and fills in defaults.
func (c *Config) validate() error {
	if err := c.validateProvider(); err != nil {
		return err
	}
	if c.JWKSURI != "" {
		if _, err := CheckURL(c.JWKSURI); err != nil {
			return fmt.Errorf("jwks uri: %w", err)
		}
	}
	if c.ClockTolerance < 0 {
		return errors.New("clock tolerance: must not be negative")
	}
	if c.CacheSize < 0 {
		return errors.New("cache size: must not be negative")
	}
	return nil
}

// options are the engine's options from c.
func (c *Config) options() jwtverify.Options {
	return jwtverify.Options{
		Algorithms: c.Algorithms, ClockTolerance: c.ClockTolerance, CacheSize: c.CacheSize, CacheTTL: c.CacheTTL,
		HTTPClient: c.HTTPClient, FetchTimeout: c.FetchTimeout, RefreshInterval: c.RefreshInterval,
		UnknownKeyCooldown: c.UnknownKeyCooldown, MaxWait: c.MaxWait, RetryMax: c.RetryMax, Now: c.Now,
	}
}
