package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/adapters/redis"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// limiterConfig is the failed-credential limit (AUTH_FAILURE_LIMIT).
type limiterConfig struct {
	limit domain.FailureLimit // Off: no limit
	// redisURL shares the counts through Redis (REDIS_URL); "" counts in
	// this process.
	redisURL string
}

// limiterSettings are the failure limit's settings. TRUSTED_PROXIES,
// which says who the client is, is among dpopSettings.
func limiterSettings() []*setting {
	return []*setting{
		{flag: "auth-failure-limit", envs: []string{"AUTH_FAILURE_LIMIT"}, usage: "failed credential checks one client address may cause, N/DURATION: N in a row, then N per DURATION; " +
			"a client over it gets 429 with Retry-After, its credentials unchecked; off to disable (default " + formatLimit(app.DefaultFailureLimit) + ")"},
	}
}

// loadLimiter resolves AUTH_FAILURE_LIMIT; the counts go to Redis when
// REDIS_URL is set. With DPoP disabled, REDIS_URL is there for this limit
// only, so the limit must be on. Errors name the variable.
func loadLimiter(get getter, mode app.DPoPMode) (limiterConfig, error) {
	var c limiterConfig
	v, name, err := get("auth-failure-limit")
	if err != nil {
		return c, err
	}
	if c.limit, err = parseFailureLimit(v); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	redisURL, _, err := get("REDIS_URL")
	if err != nil || redisURL == "" {
		return c, err
	}
	if c.limit.Off() {
		if mode == app.DPoPDisabled {
			return c, fmt.Errorf("REDIS_URL is set, but DPOP_MODE is disabled and %s is off (nothing would use it)", name)
		}
		return c, nil
	}
	// Checked now, without connecting: a bad URL stops start-up.
	_, stop, err := redis.New(redis.Config{URL: redisURL})
	if err != nil {
		return c, fmt.Errorf("REDIS_URL: %w", err)
	}
	stop()
	c.redisURL = redisURL
	return c, nil
}

// maxLimitFailures bounds N in AUTH_FAILURE_LIMIT.
const maxLimitFailures = 1_000_000

// parseFailureLimit reads AUTH_FAILURE_LIMIT: "" for the default, "off"
// or "0", or N/DURATION with N from 1 to maxLimitFailures and DURATION a
// Go duration (30s, 1m, 1h) or a bare unit (s, m, h) for one of it, from
// 1s to 24h, at least 1ms per failure.
func parseFailureLimit(s string) (domain.FailureLimit, error) {
	switch s {
	case "":
		return app.DefaultFailureLimit, nil
	case "off", "0":
		return domain.FailureLimit{}, nil
	}
	bad := fmt.Errorf("%q is not a limit like 60/1m (60 failures in a row, then 60 a minute) or off", s)
	count, window, ok := strings.Cut(s, "/")
	if !ok {
		return domain.FailureLimit{}, bad
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 || n > maxLimitFailures {
		return domain.FailureLimit{}, bad
	}
	window = strings.TrimSpace(window)
	if window == "s" || window == "m" || window == "h" {
		window = "1" + window
	}
	d, err := time.ParseDuration(window)
	if err != nil {
		return domain.FailureLimit{}, bad
	}
	if d < time.Second || d > 24*time.Hour {
		return domain.FailureLimit{}, fmt.Errorf("%q: the duration must be from 1s to 24h", s)
	}
	l := domain.FailureLimit{Failures: n, Window: d}
	if l.Interval() < time.Millisecond {
		return domain.FailureLimit{}, fmt.Errorf("%q: more than one failure per millisecond is no limit", s)
	}
	return l, nil
}

// formatLimit writes l as AUTH_FAILURE_LIMIT reads it: 60/1m, 20/30s, off.
func formatLimit(l domain.FailureLimit) string {
	if l.Off() {
		return "off"
	}
	w := l.Window.String()
	for _, short := range []struct{ long, short string }{{"h0m0s", "h"}, {"m0s", "m"}} {
		if strings.HasSuffix(w, short.long) {
			w = strings.TrimSuffix(w, short.long) + short.short
			break
		}
	}
	return strconv.Itoa(l.Failures) + "/" + w
}

// trustedProxies resolves TRUSTED_PROXIES for the HTTP layer, which takes
// the client's address from their X-Forwarded-For. (adapters/dpop reads
// the same setting for X-Forwarded-Proto and -Host, and has checked it.)
func trustedProxies(get getter) ([]netip.Prefix, error) {
	v, name, err := get("trusted-proxies")
	if err != nil || v == "" {
		return nil, err
	}
	items, err := list(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	proxies, err := httpapi.ParseTrustedProxies(items)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return proxies, nil
}

// openLimiter opens the failure limiter: nil when the limit is off; with
// Redis, one that counts there and in this process while Redis cannot
// answer (it connects as needed, like the replay cache).
func openLimiter(c limiterConfig, log *slog.Logger) (ports.FailureLimiter, func(), error) {
	if c.limit.Off() {
		return nil, func() {}, nil
	}
	local := memory.NewFailureLimiter(c.limit, memory.DefaultFailureLimiterSize, nil)
	if c.redisURL == "" {
		return local, func() {}, nil
	}
	l, stop, err := redis.NewFailureLimiter(redis.LimiterConfig{Config: redis.Config{URL: c.redisURL, Log: log}, Limit: c.limit, Local: local})
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return l, stop, nil
}

// display says, for the start-up log line, what the limit is and where
// the counts are kept.
func (c limiterConfig) display() string {
	switch {
	case c.limit.Off():
		return "off"
	case c.redisURL != "":
		return formatLimit(c.limit) + " per client address, counted in Redis"
	}
	return formatLimit(c.limit) + " per client address, counted in memory"
}
