package dpop

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config.
const (
	DefaultIATOffset     = 300 * time.Second // DPOP_IAT_OFFSET
	DefaultIATLeeway     = 30 * time.Second  // DPOP_IAT_LEEWAY
	DefaultMaxProofBytes = 8 << 10
	DefaultMaxJTIBytes   = 256
	DefaultNonceWindow   = time.Minute
	// MinNonceSecretBytes is the least length of DPOP_NONCE_SECRET: the
	// size of the HMAC-SHA256 key it becomes.
	MinNonceSecretBytes = 32
)

// DefaultAlgorithms are the proof signing algorithms accepted unless
// configured otherwise (DPOP_SIGNING_ALGS). "Ed25519" is the fully
// specified name (RFC 9864) of what "EdDSA" means here; clients use either.
var DefaultAlgorithms = []string{"ES256", "ES384", "PS256", "RS256", "EdDSA", "Ed25519"}

// Config says which proofs the verifier accepts. Start from DefaultConfig:
// zero durations are taken as written.
type Config struct {
	// Algorithms are the accepted "alg" values: any of ES256, ES384, ES512,
	// RS256, RS384, RS512, PS256, PS384, PS512, EdDSA, Ed25519. Never
	// "none" or HMAC: New refuses them.
	Algorithms []string
	// IATOffset is how old a proof's "iat" may be; IATLeeway how far in
	// the future (client clocks run ahead).
	IATOffset time.Duration
	IATLeeway time.Duration
	// MaxProofBytes caps a proof's length; longer ones are refused unread.
	MaxProofBytes int
	// MaxJTIBytes caps the length of "jti".
	MaxJTIBytes int
	// NonceSecret, when set, turns server-provided nonces on (RFC 9449 §8):
	// at least MinNonceSecretBytes bytes, the same on every instance.
	NonceSecret []byte
	// NonceWindow is how often the nonce changes; a nonce is accepted in
	// its window and the next one.
	NonceWindow time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
	// Tracer, when set, makes each VerifyProof an OpenTelemetry span
	// (tracing.go); nil: none, at no cost.
	Tracer trace.Tracer
}

// DefaultConfig returns the defaults: DefaultAlgorithms, the default proof
// window and size caps, nonces off.
func DefaultConfig() Config {
	return Config{
		Algorithms:    slices.Clone(DefaultAlgorithms),
		IATOffset:     DefaultIATOffset,
		IATLeeway:     DefaultIATLeeway,
		MaxProofBytes: DefaultMaxProofBytes,
		MaxJTIBytes:   DefaultMaxJTIBytes,
		NonceWindow:   DefaultNonceWindow,
	}
}

// algorithm is an accepted "alg": the key it needs and golang-jwt's
// signing method for it.
type algorithm struct {
	name   string
	kty    string // JWK key type
	crv    string // JWK curve, for EC and OKP
	method jwt.SigningMethod
}

// named reports whether a JWK's "alg" member names a.
func (a *algorithm) named(s string) bool {
	if a.kty == "OKP" {
		return s == "EdDSA" || s == "Ed25519"
	}
	return s == a.name
}

// algorithms are every "alg" Config.Algorithms may name.
var algorithms = map[string]*algorithm{
	"ES256":   {"ES256", "EC", "P-256", jwt.SigningMethodES256},
	"ES384":   {"ES384", "EC", "P-384", jwt.SigningMethodES384},
	"ES512":   {"ES512", "EC", "P-521", jwt.SigningMethodES512},
	"RS256":   {"RS256", "RSA", "", jwt.SigningMethodRS256},
	"RS384":   {"RS384", "RSA", "", jwt.SigningMethodRS384},
	"RS512":   {"RS512", "RSA", "", jwt.SigningMethodRS512},
	"PS256":   {"PS256", "RSA", "", jwt.SigningMethodPS256},
	"PS384":   {"PS384", "RSA", "", jwt.SigningMethodPS384},
	"PS512":   {"PS512", "RSA", "", jwt.SigningMethodPS512},
	"EdDSA":   {"EdDSA", "OKP", "Ed25519", jwt.SigningMethodEdDSA},
	"Ed25519": {"Ed25519", "OKP", "Ed25519", jwt.SigningMethodEdDSA},
}

// ParseAlgorithms reads a DPOP_SIGNING_ALGS value: names separated by
// commas or spaces. Errors name what is wrong.
func ParseAlgorithms(s string) ([]string, error) {
	names := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	if len(names) == 0 {
		return nil, errors.New("no algorithm given")
	}
	for _, n := range names {
		if err := checkAlgorithm(n); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func checkAlgorithm(name string) error {
	if _, ok := algorithms[name]; ok {
		return nil
	}
	if strings.EqualFold(name, "none") || strings.HasPrefix(strings.ToUpper(name), "HS") {
		return fmt.Errorf("%q is not allowed: DPoP proofs are signed with a private key, never unsigned or with a shared secret", name)
	}
	return fmt.Errorf("%q is not a supported algorithm (supported: ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA, Ed25519)", name)
}

// validate checks cfg and fills in the clock.
func (cfg *Config) validate() error {
	if len(cfg.Algorithms) == 0 {
		return errors.New("no proof signing algorithm allowed")
	}
	for _, a := range cfg.Algorithms {
		if err := checkAlgorithm(a); err != nil {
			return err
		}
	}
	switch {
	case cfg.IATOffset <= 0 || cfg.IATOffset > time.Hour:
		return fmt.Errorf("iat offset %v out of range (more than 0, at most 1h)", cfg.IATOffset)
	case cfg.IATLeeway < 0 || cfg.IATLeeway > 10*time.Minute:
		return fmt.Errorf("iat leeway %v out of range (0 to 10m)", cfg.IATLeeway)
	case cfg.MaxProofBytes < 512 || cfg.MaxProofBytes > 64<<10:
		return fmt.Errorf("proof size cap %d out of range (512 to 65536 bytes)", cfg.MaxProofBytes)
	case cfg.MaxJTIBytes < 16 || cfg.MaxJTIBytes > 1024:
		return fmt.Errorf("jti length cap %d out of range (16 to 1024 bytes)", cfg.MaxJTIBytes)
	case cfg.NonceSecret != nil && len(cfg.NonceSecret) < MinNonceSecretBytes:
		return fmt.Errorf("nonce secret of %d bytes is too short (at least %d)", len(cfg.NonceSecret), MinNonceSecretBytes)
	case cfg.NonceSecret != nil && (cfg.NonceWindow < time.Second || cfg.NonceWindow > time.Hour):
		return fmt.Errorf("nonce window %v out of range (1s to 1h)", cfg.NonceWindow)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return nil
}
