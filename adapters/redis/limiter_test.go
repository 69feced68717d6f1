package redis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/adapters/redis"
	"github.com/example/spaapi/adapters/redis/redistest"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/limitertest"
)

// limiterPrefix returns a key prefix of its own for each test's limiters.
func limiterPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "spaapi-test:authfail:" + hex.EncodeToString(b) + ":"
}

func newLimiter(t *testing.T, cfg redis.LimiterConfig) *redis.FailureLimiter {
	t.Helper()
	if cfg.Local == nil {
		cfg.Local = memory.NewFailureLimiter(cfg.Limit, 64, cfg.Now)
	}
	l, cleanup, err := redis.NewFailureLimiter(cfg)
	if err != nil {
		t.Fatalf("redis.NewFailureLimiter: %v", err)
	}
	t.Cleanup(cleanup)
	return l
}

func TestFailureLimiterContract(t *testing.T) {
	url := redistest.URL(t)
	limitertest.Run(t, func(t *testing.T, limit domain.FailureLimit, now func() time.Time) ports.FailureLimiter {
		return newLimiter(t, redis.LimiterConfig{Config: redis.Config{URL: url, Prefix: limiterPrefix(t)}, Limit: limit, Now: now})
	})
}

// Two instances on one Redis add up one client's failures. The one that
// did not see the block learns it at the client's next failure there.
func TestFailureLimiterSharedByInstances(t *testing.T) {
	url := redistest.URL(t)
	ctx := context.Background()
	clk := limitertest.NewClock()
	limit := domain.FailureLimit{Failures: 4, Window: 4 * time.Second}
	cfg := redis.LimiterConfig{Config: redis.Config{URL: url, Prefix: limiterPrefix(t)}, Limit: limit, Now: clk.Now}
	a, b := newLimiter(t, cfg), newLimiter(t, cfg)

	for _, l := range []*redis.FailureLimiter{a, b, a} {
		if got := l.Failed(ctx, "203.0.113.7"); got != 0 {
			t.Fatalf("failures 1-3, spread over both: got %v, want 0", got)
		}
	}
	if got := b.Failed(ctx, "203.0.113.7"); got != time.Second {
		t.Fatalf("fourth failure, at b: got %v, want 1s (blocked by the shared count)", got)
	}
	if got := b.Blocked(ctx, "203.0.113.7"); got != time.Second {
		t.Fatalf("b.Blocked: got %v, want 1s", got)
	}
	if got := a.Blocked(ctx, "203.0.113.7"); got != 0 {
		t.Fatalf("a.Blocked before any failure there: got %v, want 0 (a asks no network before a check)", got)
	}
	if got := a.Failed(ctx, "203.0.113.7"); got != time.Second {
		t.Fatalf("a's next failure: got %v, want 1s", got)
	}
	if got := a.Blocked(ctx, "203.0.113.7"); got != time.Second {
		t.Fatalf("a.Blocked after it: got %v, want 1s", got)
	}
	if got := a.Blocked(ctx, "203.0.113.8"); got != 0 {
		t.Fatalf("another client at a: got %v, want 0", got)
	}
}

// A client that has gone (its request's context canceled) is counted in
// Redis all the same, and Redis is not taken for down.
func TestFailureLimiterCountsClientsThatLeft(t *testing.T) {
	url := redistest.URL(t)
	var logs lockedLog
	limit := domain.FailureLimit{Failures: 2, Window: 2 * time.Second}
	cfg := redis.LimiterConfig{Config: redis.Config{URL: url, Prefix: limiterPrefix(t), Log: slog.New(slog.NewJSONHandler(&logs, nil))},
		Limit: limit, Now: limitertest.NewClock().Now}
	a, b := newLimiter(t, cfg), newLimiter(t, cfg)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	a.Failed(gone, "203.0.113.7")
	if got := b.Failed(context.Background(), "203.0.113.7"); got != time.Second {
		t.Fatalf("second failure, at another instance: got %v, want 1s (the first counted in Redis)", got)
	}
	if logs.String() != "" {
		t.Fatalf("log: got %s, want nothing", logs.String())
	}
}

// What reaches Redis: one key per client, named by its address so that an
// operator can find or delete it (a long or unprintable name hashed), and
// expiring when its bucket is full again.
func TestFailureLimiterKeys(t *testing.T) {
	url := redistest.URL(t)
	ctx := context.Background()
	pfx := limiterPrefix(t)
	limit := domain.FailureLimit{Failures: 60, Window: time.Minute}
	l := newLimiter(t, redis.LimiterConfig{Config: redis.Config{URL: url, Prefix: pfx}, Limit: limit})
	long := strings.Repeat("x", 100)
	for range 3 {
		l.Failed(ctx, "2001:db8:1:2::/64")
	}
	l.Failed(ctx, long)
	l.Failed(ctx, "a b")

	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	probe := goredis.NewClient(opts)
	defer probe.Close()
	keys, err := probe.Keys(ctx, pfx+"*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	if len(keys) != 3 {
		t.Fatalf("keys: got %q, want 3", keys)
	}
	ttl, err := probe.PTTL(ctx, pfx+"2001:db8:1:2::/64").Result()
	if err != nil || ttl <= 2*time.Second || ttl > 3*time.Second {
		t.Fatalf("PTTL of a client with 3 failures: got %v, %v; want just under 3s", ttl, err)
	}
	for _, k := range keys {
		if strings.Contains(k, long) || strings.Contains(k, "a b") {
			t.Errorf("key %q holds a long or unprintable client name as it is", k)
		}
	}
}

// Redis stopped: failures are counted in the process instead (the limit
// holds per instance, nothing fails, one warning is logged); Redis back:
// after a second, failures are counted there again.
func TestFailureLimiterWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	clk := limitertest.NewClock()
	var logs lockedLog
	limit := domain.FailureLimit{Failures: 3, Window: 3 * time.Second}
	l := newLimiter(t, redis.LimiterConfig{Config: redis.Config{URL: srv.URL(), Timeout: 200 * time.Millisecond,
		Log: slog.New(slog.NewJSONHandler(&logs, nil))}, Limit: limit, Now: clk.Now})

	if got := l.Failed(ctx, "203.0.113.7"); got != 0 {
		t.Fatalf("a failure with Redis up: got %v, want 0", got)
	}
	srv.Stop()
	for range 2 {
		if got := l.Failed(ctx, "198.51.100.1"); got != 0 {
			t.Fatalf("failures with Redis down: got %v, want 0", got)
		}
	}
	if got := l.Failed(ctx, "198.51.100.1"); got != time.Second {
		t.Fatalf("third failure with Redis down: got %v, want 1s (counted in process)", got)
	}
	if got := l.Blocked(ctx, "198.51.100.1"); got != time.Second {
		t.Fatalf("Blocked with Redis down: got %v, want 1s", got)
	}
	if n := strings.Count(logs.String(), "counted per instance until Redis answers"); n != 1 {
		t.Fatalf("warnings: got %d, want 1:\n%s", n, logs.String())
	}

	srv.Restart()
	clk.Add(time.Second)
	for range 2 {
		if got := l.Failed(ctx, "192.0.2.1"); got != 0 {
			t.Fatalf("failures after the restart: got %v, want 0", got)
		}
	}
	if got := l.Failed(ctx, "192.0.2.1"); got != time.Second {
		t.Fatalf("third failure after the restart: got %v, want 1s", got)
	}
	if !strings.Contains(logs.String(), "counted in Redis again") {
		t.Fatalf("no note that Redis counts again:\n%s", logs.String())
	}
}

func TestFailureLimiterConfigErrors(t *testing.T) {
	limit := domain.FailureLimit{Failures: 3, Window: time.Minute}
	local := memory.NewFailureLimiter(limit, 64, nil)
	for _, tc := range []struct {
		name string
		cfg  redis.LimiterConfig
		want string
	}{
		{"off", redis.LimiterConfig{Config: redis.Config{URL: "redis://127.0.0.1:6379"}, Local: local}, "the limit is off"},
		{"no local", redis.LimiterConfig{Config: redis.Config{URL: "redis://127.0.0.1:6379"}, Limit: limit}, "no local limiter"},
		{"bad URL", redis.LimiterConfig{Config: redis.Config{URL: "http://x:s3cr3t-pw@127.0.0.1:6379"}, Limit: limit, Local: local}, "must start with redis://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := redis.NewFailureLimiter(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Fatalf("got %v, want an error containing %q, without the password", err, tc.want)
			}
		})
	}
}

// lockedLog is a log destination safe for concurrent writers.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
