package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/adapters/redis"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/ports"
)

// dpopConfig is how DPoP-bound tokens are accepted (RFC 9449).
type dpopConfig struct {
	mode   app.DPoPMode // DPOP_MODE
	proofs dpop.Config  // DPOP_SIGNING_ALGS, DPOP_IAT_*, DPOP_NONCE*
	urls   *dpop.URLPolicy
	// redisURL keeps used proofs in Redis, shared by every instance
	// (REDIS_URL); "" keeps them in this process's memory.
	redisURL string
	// shares bound the used proofs one key and one access token may hold
	// (DPOP_MAX_PROOFS_PER_KEY, DPOP_MAX_PROOFS_PER_TOKEN).
	shares  ports.ReplayShares
	display string // where used proofs are kept, for the log: never a password
}

// dpopSettings are the settings of DPoP, the replay cache and the URL
// policy. Variables that may hold secrets have no flag.
func dpopSettings() []*setting {
	return []*setting{
		{flag: "dpop-mode", envs: []string{"DPOP_MODE"}, usage: "DPoP-bound tokens (RFC 9449): allowed (Bearer and DPoP), required (DPoP only) or disabled (Bearer only) (default allowed)"},
		{flag: "dpop-signing-algs", envs: []string{"DPOP_SIGNING_ALGS"}, usage: "DPoP proof algorithms, comma-separated (default ES256,ES384,PS256,RS256,EdDSA,Ed25519)"},
		{flag: "dpop-iat-offset", envs: []string{"DPOP_IAT_OFFSET"}, usage: "how old a DPoP proof may be: seconds or a duration (default 300)"},
		{flag: "dpop-iat-leeway", envs: []string{"DPOP_IAT_LEEWAY"}, usage: "how far in the future a DPoP proof's iat may be (default 30)"},
		{flag: "dpop-nonce", envs: []string{"DPOP_NONCE"}, usage: "on: DPoP proofs must carry the API's nonce (needs DPOP_NONCE_SECRET) (default off)"},
		{flag: "dpop-nonce-window", envs: []string{"DPOP_NONCE_WINDOW"}, usage: "how often the DPoP nonce changes (default 60)"},
		{flag: "dpop-max-proofs-per-key", envs: []string{"DPOP_MAX_PROOFS_PER_KEY"}, usage: fmt.Sprintf(
			"used DPoP proofs one client key may have in the replay cache at once (in the proof window): past it, its requests get 429 (default %d)", defaultProofsPerKey)},
		{flag: "dpop-max-proofs-per-token", envs: []string{"DPOP_MAX_PROOFS_PER_TOKEN"}, usage: fmt.Sprintf(
			"used DPoP proofs one access token may have in the replay cache at once: past it, its requests get 429 (default %d)", defaultProofsPerToken)},
		{envs: []string{"DPOP_NONCE_SECRET"}, usage: "with DPOP_NONCE=on: at least 32 bytes, the same on every instance (e.g. openssl rand -base64 32)"},
		{envs: []string{"REDIS_URL"}, usage: "redis://[user:password@]host:port[/db] (or rediss://): keep used DPoP proofs and failed-credential counts there, for every instance (default: in memory)"},
		{flag: "public-url", envs: []string{"PUBLIC_URL"}, usage: "the API's external origin (and base path) behind a proxy, e.g. https://api.example.com: DPoP proofs must name it"},
		{flag: "trusted-proxies", envs: []string{"TRUSTED_PROXIES"}, usage: "proxies (IP addresses or CIDR prefixes, comma-separated) whose X-Forwarded-For names the client (for AUTH_FAILURE_LIMIT), and whose X-Forwarded-Proto and -Host are believed for DPoP proofs"},
	}
}

// dpopVars maps the variables adapters/dpop reads to the settings above.
var dpopVars = map[string]string{
	"DPOP_SIGNING_ALGS": "dpop-signing-algs", "DPOP_IAT_OFFSET": "dpop-iat-offset", "DPOP_IAT_LEEWAY": "dpop-iat-leeway",
	"DPOP_NONCE": "dpop-nonce", "DPOP_NONCE_WINDOW": "dpop-nonce-window", "DPOP_NONCE_SECRET": "DPOP_NONCE_SECRET",
	"PUBLIC_URL": "public-url", "TRUSTED_PROXIES": "trusted-proxies",
}

// The default shares of the replay cache. A client sustains share /
// (DPOP_IAT_OFFSET + DPOP_IAT_LEEWAY) proofs a second: with the default
// window (330 s), about 200 a second per key and 100 per token. The
// in-memory cache holds 16 keys' or 32 tokens' full shares.
const (
	defaultProofsPerKey   = 1 << 16
	defaultProofsPerToken = 1 << 15
)

// loadDPoP resolves the DPoP settings. Errors name the variable.
func loadDPoP(get getter) (dpopConfig, error) {
	var c dpopConfig
	v, name, err := get("dpop-mode")
	if err != nil {
		return c, err
	}
	if c.mode, err = app.ParseDPoPMode(v); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	env := func(variable string) string {
		v, _, _ := get(dpopVars[variable])
		return v
	}
	redisURL, _, err := get("REDIS_URL")
	if err != nil {
		return c, err
	}
	if c.mode == app.DPoPDisabled {
		// Settings that nothing would use are mistakes worth stopping for.
		for _, variable := range []string{"DPOP_SIGNING_ALGS", "DPOP_IAT_OFFSET", "DPOP_IAT_LEEWAY", "DPOP_NONCE", "DPOP_NONCE_WINDOW", "DPOP_NONCE_SECRET"} {
			if env(variable) != "" {
				return c, fmt.Errorf("%s is set, but DPOP_MODE is disabled (nothing checks DPoP proofs)", variable)
			}
		}
		redisURL = "" // no proofs to keep; the failure limit may use it (loadLimiter)
		for _, name := range []string{"dpop-max-proofs-per-key", "dpop-max-proofs-per-token"} {
			if v, from, _ := get(name); v != "" {
				return c, fmt.Errorf("%s is set, but DPOP_MODE is disabled (nothing checks DPoP proofs)", from)
			}
		}
	}
	if c.shares.PerKey, err = proofShare(get, "dpop-max-proofs-per-key", defaultProofsPerKey); err != nil {
		return c, err
	}
	if c.shares.PerToken, err = proofShare(get, "dpop-max-proofs-per-token", defaultProofsPerToken); err != nil {
		return c, err
	}
	if c.proofs, err = dpop.FromEnv(env); err != nil {
		return c, err
	}
	if c.urls, err = dpop.URLPolicyFromEnv(env); err != nil {
		return c, err
	}
	c.display = fmt.Sprintf("memory (at most %d proofs)", memory.DefaultReplayCacheSize)
	if redisURL != "" {
		// Checked now, without connecting: a bad URL stops start-up.
		_, stop, err := redis.New(redis.Config{URL: redisURL})
		if err != nil {
			return c, fmt.Errorf("REDIS_URL: %w", err)
		}
		stop()
		c.redisURL = redisURL
		c.display = "redis"
		if u, err := url.Parse(redisURL); err == nil {
			c.display = u.Redacted()
		}
	}
	return c, nil
}

// proofShare resolves one of the replay cache's shares.
func proofShare(get getter, name string, def int) (int, error) {
	v, from, err := get(name)
	if err != nil || v == "" {
		return def, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > memory.DefaultReplayCacheSize {
		return 0, fmt.Errorf("%s: %q is not a number of proofs from 1 to %d", from, v, memory.DefaultReplayCacheSize)
	}
	return n, nil
}

// store names where used proofs are kept: redis or memory.
func (c dpopConfig) store() string {
	if c.redisURL != "" {
		return "redis"
	}
	return "memory"
}

// openReplay opens the replay cache: Redis with REDIS_URL, else memory.
// Redis is asked now for its settings: one whose eviction policy could drop
// used proofs stops start-up; one that does not answer only makes DPoP
// requests 503 until it does.
func openReplay(ctx context.Context, c dpopConfig, log *slog.Logger) (ports.ReplayCache, func(), error) {
	if c.redisURL == "" {
		return memory.NewReplayCache(memory.DefaultReplayCacheSize, c.shares, nil), func() {}, nil
	}
	r, stop, err := redis.New(redis.Config{URL: c.redisURL, Log: log, Shares: c.shares})
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	var policy *redis.PolicyError
	switch err := r.Check(ctx); {
	case errors.As(err, &policy):
		stop()
		return nil, nil, fmt.Errorf("REDIS_URL: %w", policy)
	case err != nil:
		log.Warn("REDIS_URL: Redis does not answer; DPoP requests get 503 until it does", "redis", c.display, "error", err.Error())
	}
	return r, stop, nil
}
