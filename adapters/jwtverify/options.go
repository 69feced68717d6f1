package jwtverify

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/trace"
)

// Options tune a Verifier: what every one of its issuers' tokens must
// meet, and how keys are fetched. A zero field means its default.
type Options struct {
	// Algorithms allowed in a token's "alg" header, exactly as written.
	// Empty means RS256, or HS256 for an issuer with a Secret.
	Algorithms []string
	// ClockTolerance is the leeway for "exp", "nbf" and "iat".
	ClockTolerance time.Duration
	// CacheSize bounds the verified-token cache in entries, shared by the
	// issuers; 0 disables it.
	CacheSize int
	// CacheTTL is the longest an entry is trusted (default 5m); never past
	// the token's own exp.
	CacheTTL time.Duration

	// The rest tune key fetching.

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

	// Tracer, when set, records OpenTelemetry spans of verifications and
	// key fetches (tracing.go); nil records none, at no cost.
	Tracer trace.Tracer
	// Provider names the identity provider (AUTH_PROVIDER) in those spans.
	Provider string
}

// Defaults for Options.
const (
	DefaultFetchTimeout       = 5 * time.Second
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultUnknownKeyCooldown = 5 * time.Second
	DefaultMaxWait            = 3 * time.Second
	DefaultRetryMax           = 10 * time.Second
	DefaultCacheSize          = 10_000
	DefaultCacheTTL           = 5 * time.Minute
	// MaxDocumentBytes caps discovery and JWKS responses, and key files.
	MaxDocumentBytes = 1 << 20
	// MaxTokenBytes caps a token before any parsing.
	MaxTokenBytes = 32 << 10
)

// asymmetricAlgorithms are the algorithms a JWKS of public keys can
// verify. Ed25519 is RFC 9864's fully-specified name for EdDSA with an
// Ed25519 key, which is the only EdDSA this package verifies.
var asymmetricAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA", "Ed25519",
}

// ed25519Method verifies EdDSA signatures with Ed25519 keys under RFC
// 9864's name for them, "Ed25519" (golang-jwt knows only "EdDSA").
type ed25519Method struct{ *jwt.SigningMethodEd25519 }

func (ed25519Method) Alg() string { return "Ed25519" }

// golang-jwt finds signing methods by a token's "alg" in its own registry;
// a token may only use one of Options.Algorithms all the same.
func init() {
	if jwt.GetSigningMethod("Ed25519") == nil {
		jwt.RegisterSigningMethod("Ed25519", func() jwt.SigningMethod { return ed25519Method{jwt.SigningMethodEdDSA} })
	}
}

// hmacKeySize is the least shared-secret length for each HMAC algorithm:
// the hash size (RFC 7518 §3.2).
var hmacKeySize = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// MinSecretSize returns the least secret length, in bytes, that the HMAC
// algorithm alg accepts, or 0 if alg is not an HMAC algorithm.
func MinSecretSize(alg string) int { return hmacKeySize[alg] }

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

// validate checks o for issuers and fills in defaults.
func (o *Options) validate(issuers []Issuer) error {
	if len(issuers) == 0 {
		return errors.New("no issuer")
	}
	secret := false
	for _, iss := range issuers {
		secret = secret || iss.Secret != nil
	}
	if len(o.Algorithms) == 0 {
		o.Algorithms = []string{"RS256"}
		if secret {
			o.Algorithms = []string{"HS256"}
		}
	}
	// A shared secret and public keys never verify under one
	// configuration, so "the public key as HMAC secret" cannot work.
	if secret {
		for _, iss := range issuers {
			for _, a := range o.Algorithms {
				switch size := MinSecretSize(a); {
				case iss.Secret == nil:
					return errors.New("issuers: a shared secret cannot be mixed with public keys")
				case size == 0:
					return fmt.Errorf("algorithms: %q is not a shared-secret algorithm (HS256, HS384, HS512)", a)
				case len(iss.Secret) < size:
					return fmt.Errorf("secret: is %d bytes; %s needs at least %d", len(iss.Secret), a, size)
				}
			}
		}
	} else if _, err := ParseAlgorithms(strings.Join(o.Algorithms, ",")); err != nil {
		return fmt.Errorf("algorithms: %w", err)
	}
	if o.ClockTolerance < 0 {
		return errors.New("clock tolerance: must not be negative")
	}
	if o.CacheSize < 0 {
		return errors.New("cache size: must not be negative")
	}
	setDefault(&o.CacheTTL, DefaultCacheTTL)
	setDefault(&o.FetchTimeout, DefaultFetchTimeout)
	setDefault(&o.RefreshInterval, DefaultRefreshInterval)
	setDefault(&o.UnknownKeyCooldown, DefaultUnknownKeyCooldown)
	setDefault(&o.MaxWait, DefaultMaxWait)
	setDefault(&o.RetryMax, DefaultRetryMax)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = NewHTTPClient(o.FetchTimeout)
	}
	return nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// NewHTTPClient returns a client for requests to an issuer: a timeout on
// the whole exchange, the system roots, and no redirect to plain http
// except on loopback.
func NewHTTPClient(timeout time.Duration) *http.Client {
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
