package dpop

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FromEnv reads the proof settings from the environment, starting from
// DefaultConfig. Errors are one line naming the variable and what is wrong:
//
//	DPOP_SIGNING_ALGS   accepted algorithms, e.g. "ES256,EdDSA" (default: DefaultAlgorithms)
//	DPOP_IAT_OFFSET     how old a proof may be: seconds or a duration (default 300)
//	DPOP_IAT_LEEWAY     how far in the future (default 30)
//	DPOP_NONCE          "on" or "off" (default off)
//	DPOP_NONCE_SECRET   with DPOP_NONCE=on: at least 32 bytes, the same on every instance
//	DPOP_NONCE_WINDOW   how often the nonce changes (default 60 s)
func FromEnv(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	if v := getenv("DPOP_SIGNING_ALGS"); v != "" {
		algs, err := ParseAlgorithms(v)
		if err != nil {
			return Config{}, fmt.Errorf("DPOP_SIGNING_ALGS: %w", err)
		}
		cfg.Algorithms = algs
	}
	for _, d := range []struct {
		name     string
		dst      *time.Duration
		min, max time.Duration
	}{
		{"DPOP_IAT_OFFSET", &cfg.IATOffset, time.Second, time.Hour},
		{"DPOP_IAT_LEEWAY", &cfg.IATLeeway, 0, 10 * time.Minute},
		{"DPOP_NONCE_WINDOW", &cfg.NonceWindow, time.Second, time.Hour},
	} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		dur, err := duration(v)
		if err != nil || dur < d.min || dur > d.max {
			return Config{}, fmt.Errorf("%s: %q is not a number of seconds or a duration like 5m from %v to %v", d.name, v, d.min, d.max)
		}
		*d.dst = dur
	}
	secret := getenv("DPOP_NONCE_SECRET")
	switch strings.ToLower(getenv("DPOP_NONCE")) {
	case "", "off":
		if secret != "" {
			return Config{}, fmt.Errorf("DPOP_NONCE_SECRET is set, but DPOP_NONCE is not on")
		}
	case "on":
		if len(secret) < MinNonceSecretBytes {
			return Config{}, fmt.Errorf("DPOP_NONCE_SECRET: with DPOP_NONCE=on it must be at least %d bytes (it has %d), e.g. from openssl rand -base64 32", MinNonceSecretBytes, len(secret))
		}
		cfg.NonceSecret = []byte(secret)
	default:
		return Config{}, fmt.Errorf(`DPOP_NONCE: %q is not one of "on", "off"`, getenv("DPOP_NONCE"))
	}
	return cfg, nil
}

// URLPolicyFromEnv reads PUBLIC_URL and TRUSTED_PROXIES (comma-separated IP
// addresses or CIDR prefixes); see URLPolicy.
func URLPolicyFromEnv(getenv func(string) string) (*URLPolicy, error) {
	var proxies []string
	if v := getenv("TRUSTED_PROXIES"); v != "" {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				return nil, fmt.Errorf("TRUSTED_PROXIES: empty item in %q", v)
			}
			proxies = append(proxies, p)
		}
	}
	p, err := NewURLPolicy(getenv("PUBLIC_URL"), proxies)
	if err != nil {
		return nil, fmt.Errorf("PUBLIC_URL, TRUSTED_PROXIES: %w", err)
	}
	return p, nil
}

// duration reads a number of seconds ("300") or a Go duration ("5m").
func duration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(24*time.Hour/time.Second) {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}
