package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

func TestFailureLimitSettings(t *testing.T) {
	base := func(kv ...string) func(string) string {
		m := map[string]string{"ISSUER_BASE_URL": "https://tenant.auth0.com/", "AUDIENCE": "https://api.example.com"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return env(m)
	}
	for _, tc := range []struct {
		value string
		want  domain.FailureLimit
	}{
		{"", app.DefaultFailureLimit},
		{"off", domain.FailureLimit{}},
		{"0", domain.FailureLimit{}},
		{"20/1m", domain.FailureLimit{Failures: 20, Window: time.Minute}},
		{"20 / 30s", domain.FailureLimit{Failures: 20, Window: 30 * time.Second}},
		{"5/m", domain.FailureLimit{Failures: 5, Window: time.Minute}},
		{"1000/h", domain.FailureLimit{Failures: 1000, Window: time.Hour}},
		{"1000/1s", domain.FailureLimit{Failures: 1000, Window: time.Second}},
	} {
		c, err := loadConfig(nil, base("AUTH_FAILURE_LIMIT", tc.value), io.Discard)
		if err != nil {
			t.Errorf("AUTH_FAILURE_LIMIT=%q: %v", tc.value, err)
			continue
		}
		if c.limiter.limit != tc.want || c.limiter.redisURL != "" {
			t.Errorf("AUTH_FAILURE_LIMIT=%q: got %+v, want %v in memory", tc.value, c.limiter, tc.want)
		}
	}
	for _, bad := range []string{"20", "x/1m", "0/1m", "-1/1m", "2000000/1m", "20/0s", "20/500ms", "20/48h", "2000/1s", "20/1m/1h", "on", "20/minute"} {
		_, err := loadConfig(nil, base("AUTH_FAILURE_LIMIT", bad), io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "AUTH_FAILURE_LIMIT: ") {
			t.Errorf("AUTH_FAILURE_LIMIT=%q: got %v, want an error naming the variable", bad, err)
		}
	}
	if _, err := loadConfig([]string{"-auth-failure-limit", "lots"}, base(), io.Discard); err == nil || !strings.HasPrefix(err.Error(), "-auth-failure-limit: ") {
		t.Errorf("bad flag: got %v, want an error naming the flag", err)
	}

	t.Run("Redis shares the counts", func(t *testing.T) {
		c, err := loadConfig(nil, base("REDIS_URL", "redis://127.0.0.1:6390/2"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.limiter.redisURL != "redis://127.0.0.1:6390/2" || c.dpop.redisURL == "" {
			t.Errorf("got limiter %+v, replay %q: want both in Redis", c.limiter, c.dpop.redisURL)
		}
		if got := c.limiter.display(); got != "60/1m per client address, counted in Redis" {
			t.Errorf("display: got %q", got)
		}
	})
	t.Run("Redis with DPoP disabled: the failure limit only", func(t *testing.T) {
		c, err := loadConfig(nil, base("DPOP_MODE", "disabled", "REDIS_URL", "redis://127.0.0.1:6390/2"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.limiter.redisURL == "" || c.dpop.redisURL != "" {
			t.Errorf("got limiter %+v, replay %q: want the limiter in Redis, no replay store there", c.limiter, c.dpop.redisURL)
		}
	})
	t.Run("limit off, Redis for the replay cache only", func(t *testing.T) {
		c, err := loadConfig(nil, base("AUTH_FAILURE_LIMIT", "off", "REDIS_URL", "redis://127.0.0.1:6390/2"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.limiter.redisURL != "" || c.dpop.redisURL == "" || c.limiter.display() != "off" {
			t.Errorf("got limiter %+v (%s), replay %q", c.limiter, c.limiter.display(), c.dpop.redisURL)
		}
	})
	t.Run("a public URL with trusted proxies: they name the client", func(t *testing.T) {
		c, err := loadConfig(nil, base("PUBLIC_URL", "https://api.example.com", "TRUSTED_PROXIES", "10.0.0.1"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.web.TrustedProxies) != 1 {
			t.Errorf("trusted proxies: got %v", c.web.TrustedProxies)
		}
	})
	t.Run("trusted proxies reach the HTTP layer", func(t *testing.T) {
		c, err := loadConfig(nil, base("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.web.TrustedProxies) != 2 || c.web.TrustedProxies[1].String() != "192.168.1.1/32" {
			t.Errorf("got %v", c.web.TrustedProxies)
		}
	})
}

func TestFormatLimit(t *testing.T) {
	for l, want := range map[domain.FailureLimit]string{
		{Failures: 60, Window: time.Minute}:      "60/1m",
		{Failures: 20, Window: 30 * time.Second}: "20/30s",
		{Failures: 5, Window: 2 * time.Hour}:     "5/2h",
		{Failures: 5, Window: 90 * time.Minute}:  "5/1h30m",
		{}:                                       "off",
	} {
		if got := formatLimit(l); got != want {
			t.Errorf("%+v: got %q, want %q", l, got, want)
		}
		if back, err := parseFailureLimit(want); err != nil || back != l {
			t.Errorf("%q read back: got %+v, %v; want %+v", want, back, err, l)
		}
	}
}
