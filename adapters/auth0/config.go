package auth0

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
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

// Defaults for the tuning fields of Config.
const (
	DefaultFetchTimeout       = 5 * time.Second
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultUnknownKeyCooldown = 5 * time.Second
	DefaultMaxWait            = 3 * time.Second
	DefaultRetryMax           = 10 * time.Second
	DefaultCacheSize          = 10_000
	DefaultCacheTTL           = 5 * time.Minute
	// MaxDocumentBytes caps discovery and JWKS responses.
	MaxDocumentBytes = 1 << 20
	// MaxTokenBytes caps a token before any parsing.
	MaxTokenBytes = 32 << 10
)

// asymmetricAlgorithms are the algorithms a JWKS of public keys can verify.
var asymmetricAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// ParseAlgorithms parses a comma-separated list of signing algorithms,
// refusing "none", shared-secret (HS*) and unknown names.
// Names are case-sensitive, as in RFC 7518.
func ParseAlgorithms(list string) ([]string, error) {
	var algs []string
	for a := range strings.SplitSeq(list, ",") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
			return nil, errors.New("empty algorithm name in list")
		case strings.EqualFold(a, "none"):
			return nil, errors.New(`"none" means unsigned tokens and is never allowed`)
		case strings.HasPrefix(strings.ToUpper(a), "HS"):
			return nil, fmt.Errorf("%s is a shared-secret algorithm; keys from a JWKS are public keys, so use one of %s", a, strings.Join(asymmetricAlgorithms, ", "))
		case !slices.Contains(asymmetricAlgorithms, a):
			return nil, fmt.Errorf("unknown algorithm %q (names are case-sensitive); use one of %s", a, strings.Join(asymmetricAlgorithms, ", "))
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	return algs, nil
}

// CheckURL checks that raw is an absolute http(s) URL without user info,
// query or fragment, and that it uses https unless its host is loopback.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("%q must not contain user info, a query or a fragment", raw)
	}
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%q must use https (plain http is allowed only for localhost and loopback addresses)", raw)
	}
	return u, nil
}

// CheckIssuerURL checks an issuer URL as CheckURL does, and that it is the
// issuer itself rather than its discovery document.
func CheckIssuerURL(raw string) error {
	u, err := CheckURL(raw)
	if err != nil {
		return err
	}
	if strings.Contains(u.Path, "/.well-known/") {
		return fmt.Errorf("%q is a discovery document URL; give the issuer itself, e.g. %s://%s/", raw, u.Scheme, u.Host)
	}
	return nil
}

// IsLoopback reports whether host is "localhost" or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

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
	setDefault(&c.CacheTTL, DefaultCacheTTL)
	setDefault(&c.FetchTimeout, DefaultFetchTimeout)
	setDefault(&c.RefreshInterval, DefaultRefreshInterval)
	setDefault(&c.UnknownKeyCooldown, DefaultUnknownKeyCooldown)
	setDefault(&c.MaxWait, DefaultMaxWait)
	setDefault(&c.RetryMax, DefaultRetryMax)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPClient == nil {
		c.HTTPClient = newHTTPClient(c.FetchTimeout)
	}
	return nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// newHTTPClient returns the client for discovery and JWKS requests: a
// timeout on the whole exchange, the system roots, and no redirect to plain
// http except on loopback.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "https" && !IsLoopback(req.URL.Hostname()) {
				return fmt.Errorf("redirect to %s refused: https required", req.URL.Redacted())
			}
			return nil
		},
	}
}
