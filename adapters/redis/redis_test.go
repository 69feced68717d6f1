package redis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/example/spaapi/adapters/redis"
	"github.com/example/spaapi/adapters/redis/redistest"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/replaytest"
)

// prefix returns a key prefix of its own for each cache, so that tests
// sharing one Redis never see each other's keys.
func prefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "spaapi-test:" + hex.EncodeToString(b) + ":"
}

func newCache(t *testing.T, cfg redis.Config) *redis.ReplayCache {
	t.Helper()
	c, cleanup, err := redis.New(cfg)
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(cleanup)
	return c
}

func TestContract(t *testing.T) {
	url := redistest.URL(t)
	replaytest.Run(t, func(t *testing.T) ports.ReplayCache {
		return newCache(t, redis.Config{URL: url, Prefix: prefix(t)})
	})
}

// What reaches Redis: one namespaced key of fixed length per check, never
// the key itself, expiring after the ttl.
func TestKeysAreNamespacedHashedAndExpire(t *testing.T) {
	url := redistest.URL(t)
	pfx := prefix(t)
	c := newCache(t, redis.Config{URL: url, Prefix: pfx})
	ctx := context.Background()
	raw := "thumbprint " + strings.Repeat("a-very-long-jti", 1000)
	if ok, err := c.FirstSeen(ctx, raw, 90*time.Second); !ok || err != nil {
		t.Fatalf("FirstSeen: got %v, %v; want true, nil", ok, err)
	}

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
	if len(keys) != 1 {
		t.Fatalf("keys under the prefix: got %d, want 1", len(keys))
	}
	if got, want := len(keys[0]), len(pfx)+43; got != want || strings.Contains(keys[0], "jti") {
		t.Fatalf("key %q: got length %d, want %d (prefix and base64url SHA-256), without the raw key", keys[0], got, want)
	}
	ttl, err := probe.PTTL(ctx, keys[0]).Result()
	if err != nil || ttl <= 80*time.Second || ttl > 90*time.Second {
		t.Fatalf("PTTL: got %v, %v; want just under 90s", ttl, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  redis.Config
		want string
	}{
		{"no scheme", redis.Config{URL: "127.0.0.1:6379"}, "must start with redis://"},
		{"http", redis.Config{URL: "http://127.0.0.1:6379"}, "must start with redis://"},
		{"bad option, password hidden", redis.Config{URL: "redis://user:s3cr3t-pw@127.0.0.1:6379/0?bogus=1"}, "not valid"},
		{"bad db", redis.Config{URL: "redis://127.0.0.1:6379/notadb"}, "not valid"},
		{"timeout", redis.Config{URL: "redis://127.0.0.1:6379", Timeout: -time.Second}, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := redis.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Fatalf("error %q contains the password", err)
			}
		})
	}
}

// A Redis that accepts connections and never answers: every check ends
// with ErrUnavailable after the timeout, instead of waiting for ever.
func TestStalledRedisIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // read nothing, answer nothing
		}
	}()
	c := newCache(t, redis.Config{URL: "redis://" + ln.Addr().String(), Timeout: 200 * time.Millisecond})
	for range 3 {
		ok, err := c.FirstSeen(context.Background(), "k", time.Minute)
		if ok || !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("FirstSeen against a stalled server: got %v, %v; want false and ErrUnavailable", ok, err)
		}
	}
	if err := c.Ready(context.Background()); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Ready: got %v, want ErrUnavailable", err)
	}
}

// Redis stopped mid-way: checks fail closed with ErrUnavailable (never
// "first seen"); restarted on the same port: checks work again, with no
// restart of the cache.
func TestRedisStoppedThenRestarted(t *testing.T) {
	srv := redistest.Start(t)
	var logs syncBuffer
	c := newCache(t, redis.Config{URL: srv.URL(), Prefix: prefix(t),
		Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx := context.Background()

	if ok, err := c.FirstSeen(ctx, "before", time.Minute); !ok || err != nil {
		t.Fatalf("FirstSeen with Redis up: got %v, %v; want true, nil", ok, err)
	}
	if ok, err := c.FirstSeen(ctx, "before", time.Minute); ok || err != nil {
		t.Fatalf("replay with Redis up: got %v, %v; want false, nil", ok, err)
	}

	srv.Stop()
	for _, key := range []string{"before", "during"} {
		ok, err := c.FirstSeen(ctx, key, time.Minute)
		if ok || !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("FirstSeen(%s) with Redis stopped: got %v, %v; want false and ErrUnavailable", key, ok, err)
		}
	}
	if err := c.Ready(ctx); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Ready with Redis stopped: got %v, want ErrUnavailable", err)
	}
	if got := logs.String(); !strings.Contains(got, `"level":"WARN","msg":"redis: `) {
		t.Fatalf("go-redis's messages while Redis is down: got %q in the log, want JSON warnings", got)
	}

	srv.Restart()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready after the restart: %v", err)
	}
	if ok, err := c.FirstSeen(ctx, "after", time.Minute); !ok || err != nil {
		t.Fatalf("FirstSeen after the restart: got %v, %v; want true, nil", ok, err)
	}
	if ok, err := c.FirstSeen(ctx, "after", time.Minute); ok || err != nil {
		t.Fatalf("replay after the restart: got %v, %v; want false, nil", ok, err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
