package redis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	redistest.UpFor(t, url, replaytest.Leeway+time.Second)
	replaytest.Run(t, func(t *testing.T, s ports.ReplayShares) ports.ReplayCache {
		return newCache(t, redis.Config{URL: url, Prefix: prefix(t), Shares: s})
	})
}

// key is a replay key valid from now: made by a client whose clock is
// exact, in a test that runs with no leeway.
func key(jkt, token, jti string) ports.ReplayKey {
	return ports.ReplayKey{JKT: jkt, Token: token, JTI: jti, ValidFrom: time.Now()}
}

// probe returns a plain client of url, for looking at and setting up the
// server under a test.
func probe(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// started is a throwaway redis-server with args, up for more than a
// second: keys valid from now are after its start.
func started(t *testing.T, args ...string) *redistest.Server {
	srv := redistest.Start(t, args...)
	time.Sleep(1100 * time.Millisecond)
	return srv
}

// What reaches Redis: per check, the key's and the token's sets, of fixed
// length names, holding a hash of the jti, never what the client sent,
// expiring with the proof.
func TestKeysAreNamespacedHashedAndExpire(t *testing.T) {
	url := redistest.URL(t)
	pfx := prefix(t)
	c := newCache(t, redis.Config{URL: url, Prefix: pfx})
	ctx := context.Background()
	jti := strings.Repeat("a-very-long-jti", 1000)
	if ok, err := c.FirstSeen(ctx, key("thumbprint", "token-hash", jti), 90*time.Second); !ok || err != nil {
		t.Fatalf("FirstSeen: got %v, %v; want true, nil", ok, err)
	}

	p := probe(t, url)
	keys, err := p.Keys(ctx, pfx+"*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys under the prefix: got %q, want 2 (the key's and the token's sets)", keys)
	}
	for _, k := range keys {
		if got, want := len(k), len(pfx)+2+43; got != want || !(strings.HasPrefix(k, pfx+"k:") || strings.HasPrefix(k, pfx+"t:")) ||
			strings.Contains(k, "thumbprint") || strings.Contains(k, "token") {
			t.Fatalf("key %q: got length %d, want %d: the prefix, k: or t:, and a base64url SHA-256", k, got, want)
		}
		members, err := p.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil || len(members) != 1 || len(members[0].Member.(string)) != 22 {
			t.Fatalf("ZRANGE %s: got %v, %v; want one member, a 128-bit hash of the jti", k, members, err)
		}
		if until := time.UnixMilli(int64(members[0].Score)); until.Before(time.Now().Add(80*time.Second)) || until.After(time.Now().Add(91*time.Second)) {
			t.Fatalf("member's score: %v, want about 90 s from now", until)
		}
		if ttl, err := p.PTTL(ctx, k).Result(); err != nil || ttl <= 80*time.Second || ttl > 90*time.Second {
			t.Fatalf("PTTL %s: got %v, %v; want just under 90s", k, ttl, err)
		}
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
		{"shares", redis.Config{URL: "redis://127.0.0.1:6379", Shares: ports.ReplayShares{PerKey: -1}}, "shares"},
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
		ok, err := c.FirstSeen(context.Background(), key("k", "t", "j"), time.Minute)
		if ok || !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("FirstSeen against a stalled server: got %v, %v; want false and ErrUnavailable", ok, err)
		}
	}
	if err := c.Ready(context.Background()); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Ready: got %v, want ErrUnavailable", err)
	}
}

// Redis stopped mid-way: checks fail closed with ErrUnavailable (never
// "first seen"); restarted on the same port (without persistence): the
// restart is noticed, proofs that could have been used before it are
// refused, and proofs made since work, with no restart of the cache.
func TestRedisStoppedThenRestarted(t *testing.T) {
	srv := started(t)
	var logs syncBuffer
	c := newCache(t, redis.Config{URL: srv.URL(), Prefix: prefix(t),
		Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx := context.Background()

	before := key("jkt", "token", "before")
	if ok, err := c.FirstSeen(ctx, before, time.Minute); !ok || err != nil {
		t.Fatalf("FirstSeen with Redis up: got %v, %v; want true, nil", ok, err)
	}
	if ok, err := c.FirstSeen(ctx, before, time.Minute); ok || err != nil {
		t.Fatalf("replay with Redis up: got %v, %v; want false, nil", ok, err)
	}

	srv.Stop()
	for _, k := range []ports.ReplayKey{before, key("jkt", "token", "during")} {
		ok, err := c.FirstSeen(ctx, k, time.Minute)
		if ok || !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("FirstSeen(%s) with Redis stopped: got %v, %v; want false and ErrUnavailable", k.JTI, ok, err)
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
	var pe *domain.ProofError
	if ok, err := c.FirstSeen(ctx, before, time.Minute); ok || !errors.As(err, &pe) || pe.Reason != domain.ProofStoreRestarted {
		t.Fatalf("a proof from before the restart: got %v, %v; want false and dpop_replay_store_restarted", ok, err)
	}
	after := key("jkt", "token", "after")
	if ok, err := c.FirstSeen(ctx, after, time.Minute); !ok || err != nil {
		t.Fatalf("FirstSeen of a proof made after the restart: got %v, %v; want true, nil", ok, err)
	}
	if ok, err := c.FirstSeen(ctx, after, time.Minute); ok || err != nil {
		t.Fatalf("replay after the restart: got %v, %v; want false, nil", ok, err)
	}
	if !strings.Contains(logs.String(), "the replay store restarted or changed") {
		t.Errorf("the log does not say the restart was noticed:\n%s", logs.String())
	}
}

// 50 proofs used, then Redis restarts without persistence (it forgets
// them): every one of them is refused, with dpop_replay_store_restarted and
// a RetryAfter that brings a fresh proof past the restart, and the next
// fresh proof is accepted. The restart is noticed on the first new
// connection: no check ever reaches the new server unnoticed.
func TestProofsUsedBeforeARestartAreRefused(t *testing.T) {
	srv := started(t)
	c := newCache(t, redis.Config{URL: srv.URL(), Prefix: prefix(t)})
	ctx := context.Background()
	const leeway = 30 * time.Second
	used := make([]ports.ReplayKey, 50)
	for i := range used {
		used[i] = key("jkt", "token", fmt.Sprint("used-", i))
		if ok, err := c.FirstSeen(ctx, used[i], time.Minute); !ok || err != nil {
			t.Fatalf("proof %d: got %v, %v; want true, nil", i, ok, err)
		}
	}
	srv.Restart()
	restarted := time.Now()
	for i, k := range used {
		ok, err := c.FirstSeen(ctx, k, time.Minute)
		var pe *domain.ProofError
		if ok || !errors.As(err, &pe) || pe.Reason != domain.ProofStoreRestarted || !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("used proof %d after the restart: got %v, %v; want false and dpop_replay_store_restarted", i, ok, err)
		}
		// Retrying after RetryAfter with a proof made then passes.
		if retry := k.ValidFrom.Add(pe.RetryAfter); retry.Before(restarted.Add(-time.Second)) || retry.After(time.Now().Add(time.Second)) {
			t.Fatalf("RetryAfter %v: a proof made then would be valid from %v, want about the restart, %v", pe.RetryAfter, retry, restarted)
		}
	}
	// A client proof made after the restart with the usual leeway (valid
	// from 30 s before its iat) is refused until the leeway has passed...
	fresh := ports.ReplayKey{JKT: "jkt", Token: "token", JTI: "fresh", ValidFrom: time.Now().Add(-leeway)}
	var pe *domain.ProofError
	if _, err := c.FirstSeen(ctx, fresh, time.Minute); !errors.As(err, &pe) || pe.Reason != domain.ProofStoreRestarted ||
		pe.RetryAfter < leeway-2*time.Second || pe.RetryAfter > leeway {
		t.Fatalf("a fresh proof with a 30 s leeway: got %v (%+v), want dpop_replay_store_restarted, RetryAfter about 30 s", err, pe)
	}
	// ...and one valid from now on is accepted.
	if ok, err := c.FirstSeen(ctx, key("jkt", "token", "later"), time.Minute); !ok || err != nil {
		t.Fatalf("a proof valid from now: got %v, %v; want true, nil", ok, err)
	}
}

// An API instance that starts while Redis has just started cannot know
// whether Redis forgot proofs: proofs that could have been used before
// Redis's start are refused.
func TestFirstContactWithAFreshRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, redis.Config{URL: srv.URL(), Prefix: prefix(t)})
	if err := c.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	old := ports.ReplayKey{JKT: "jkt", JTI: "old", ValidFrom: time.Now().Add(-time.Minute)}
	var pe *domain.ProofError
	if _, err := c.FirstSeen(context.Background(), old, time.Minute); !errors.As(err, &pe) || pe.Reason != domain.ProofStoreRestarted {
		t.Fatalf("a proof valid from a minute ago, Redis up for less: got %v, want dpop_replay_store_restarted", err)
	}
}

// Every maxmemory-policy but noeviction can evict proofs (they all carry a
// TTL, so the volatile-* policies may take them too): Check says which and
// what to do, every check fails closed, and Ready says why.
func TestEvictingPoliciesAreRefused(t *testing.T) {
	for _, policy := range []string{"volatile-lru", "allkeys-lru", "volatile-ttl", "allkeys-random", "volatile-lfu"} {
		t.Run(policy, func(t *testing.T) {
			srv := started(t, "--maxmemory", "4mb", "--maxmemory-policy", policy)
			c := newCache(t, redis.Config{URL: srv.URL(), Prefix: prefix(t)})
			ctx := context.Background()
			err := c.Check(ctx)
			var pe *redis.PolicyError
			if !errors.As(err, &pe) || pe.Policy != policy || !strings.Contains(err.Error(), "maxmemory-policy is "+policy) ||
				!strings.Contains(err.Error(), "set maxmemory-policy noeviction") {
				t.Fatalf("Check: got %v, want a PolicyError naming %s and noeviction", err, policy)
			}
			if ok, err := c.FirstSeen(ctx, key("jkt", "token", "jti"), time.Minute); ok || !errors.Is(err, domain.ErrUnavailable) {
				t.Fatalf("FirstSeen: got %v, %v; want false and ErrUnavailable", ok, err)
			}
			var u *domain.UnavailableError
			if err := c.Ready(ctx); !errors.As(err, &u) ||
				u.What != "the DPoP replay store (Redis's maxmemory-policy "+policy+" can evict used proofs; it must be noeviction)" {
				t.Fatalf("Ready: got %v, want it to name the policy", err)
			}
		})
	}
}

// The policy is read again at run time: set to noeviction, checks work;
// set back to an evicting one, Ready notices and checks fail closed again.
func TestPolicyChangedAtRunTime(t *testing.T) {
	srv := started(t, "--maxmemory", "4mb", "--maxmemory-policy", "volatile-lru")
	c := newCache(t, redis.Config{URL: srv.URL(), Prefix: prefix(t)})
	ctx := context.Background()
	p := probe(t, srv.URL())
	if err := c.Check(ctx); err == nil {
		t.Fatal("Check under volatile-lru: got nil")
	}
	if err := p.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready under noeviction: %v", err)
	}
	if ok, err := c.FirstSeen(ctx, key("jkt", "token", "1"), time.Minute); !ok || err != nil {
		t.Fatalf("FirstSeen under noeviction: got %v, %v", ok, err)
	}
	if err := p.ConfigSet(ctx, "maxmemory-policy", "allkeys-lfu").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err == nil {
		t.Fatal("Ready after CONFIG SET maxmemory-policy allkeys-lfu: got nil")
	}
	if ok, err := c.FirstSeen(ctx, key("jkt", "token", "2"), time.Minute); ok || !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("FirstSeen after the change: got %v, %v; want false and ErrUnavailable", ok, err)
	}
}

// Managed Redis services often disable CONFIG: the policy is read from
// INFO. A Redis that refuses INFO too cannot be checked, and is refused.
func TestPolicyWithoutCONFIGOrINFO(t *testing.T) {
	ctx := context.Background()
	srv := started(t, "--rename-command", "CONFIG", "")
	c := newCache(t, redis.Config{URL: srv.URL(), Prefix: prefix(t)})
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check without CONFIG, under noeviction: %v", err)
	}
	if ok, err := c.FirstSeen(ctx, key("jkt", "token", "1"), time.Minute); !ok || err != nil {
		t.Fatalf("FirstSeen without CONFIG: got %v, %v; want true, nil", ok, err)
	}

	srv = started(t, "--rename-command", "CONFIG", "", "--rename-command", "INFO", "")
	c = newCache(t, redis.Config{URL: srv.URL(), Prefix: prefix(t)})
	err := c.Check(ctx)
	var pe *redis.PolicyError
	if !errors.As(err, &pe) || pe.Policy != "" || !strings.Contains(err.Error(), "needs INFO") {
		t.Fatalf("Check without CONFIG and INFO: got %v, want a PolicyError saying INFO is needed", err)
	}
	if ok, err := c.FirstSeen(ctx, key("jkt", "token", "1"), time.Minute); ok || !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("FirstSeen without INFO: got %v, %v; want false and ErrUnavailable", ok, err)
	}
}

// Under noeviction, a Redis at maxmemory refuses writes: checks fail
// closed (no proof used before is ever accepted again) and Ready says the
// store refuses writes; with room again, both recover.
func TestFullRedisFailsClosedAndIsNotReady(t *testing.T) {
	srv := started(t, "--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
	c := newCache(t, redis.Config{URL: srv.URL(), Prefix: prefix(t)})
	ctx := context.Background()
	used := make([]ports.ReplayKey, 200)
	for i := range used {
		used[i] = key("jkt", fmt.Sprint("token-", i%10), fmt.Sprint("used-", i))
		if ok, err := c.FirstSeen(ctx, used[i], time.Minute); !ok || err != nil {
			t.Fatalf("proof %d: got %v, %v", i, ok, err)
		}
	}
	full := false
	for i := 0; i < 200_000 && !full; i++ { // distinct keys until Redis is full
		_, err := c.FirstSeen(ctx, key(fmt.Sprint("flood-", i), "t", "j"), time.Minute)
		switch {
		case errors.Is(err, domain.ErrUnavailable) && strings.Contains(err.Error(), "OOM"):
			full = true
		case err != nil:
			t.Fatalf("flood %d: %v", i, err)
		}
	}
	if !full {
		t.Fatal("200,000 distinct proofs did not fill 3 MB")
	}
	for i, k := range used {
		if ok, err := c.FirstSeen(ctx, k, time.Minute); ok || (err != nil && !errors.Is(err, domain.ErrUnavailable)) {
			t.Fatalf("used proof %d with Redis full: got %v, %v; want it refused", i, ok, err)
		}
	}
	// Right at maxmemory, whether one more write fits varies with Redis's
	// buffers; well over it, every write is refused.
	p := probe(t, srv.URL())
	if err := p.ConfigSet(ctx, "maxmemory", "1mb").Err(); err != nil {
		t.Fatal(err)
	}
	var u *domain.UnavailableError
	if err := c.Ready(ctx); !errors.As(err, &u) || u.What != "the DPoP replay store (Redis is out of memory and refuses writes: maxmemory reached)" {
		t.Fatalf("Ready with Redis full: got %v, want it to say Redis refuses writes", err)
	}
	if ok, err := c.FirstSeen(ctx, key("jkt", "token", "new"), time.Minute); ok || !errors.Is(err, domain.ErrUnavailable) || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("a new proof with Redis full: got %v, %v; want false and ErrUnavailable (OOM)", ok, err)
	}
	if err := p.ConfigSet(ctx, "maxmemory", "64mb").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready with room again: %v", err)
	}
	if ok, err := c.FirstSeen(ctx, used[0], time.Minute); ok || err != nil {
		t.Fatalf("a used proof with room again: got %v, %v; want false, nil", ok, err)
	}
}

// Shares are counted in Redis, so across instances: a token's proofs at
// two instances add up to its one share.
func TestSharesAcrossInstances(t *testing.T) {
	url := redistest.URL(t)
	pfx := prefix(t)
	shares := ports.ReplayShares{PerKey: 10, PerToken: 5}
	a := newCache(t, redis.Config{URL: url, Prefix: pfx, Shares: shares})
	b := newCache(t, redis.Config{URL: url, Prefix: pfx, Shares: shares})
	ctx := context.Background()
	for i := range 5 {
		c := a
		if i%2 == 1 {
			c = b
		}
		if ok, err := c.FirstSeen(ctx, key("K", "A", fmt.Sprint(i)), time.Minute); !ok || err != nil {
			t.Fatalf("proof %d: got %v, %v", i, ok, err)
		}
	}
	for _, c := range []*redis.ReplayCache{a, b} {
		var pe *domain.ProofError
		if _, err := c.FirstSeen(ctx, key("K", "A", "6"), time.Minute); !errors.As(err, &pe) || pe.Reason != domain.ProofTokenShare {
			t.Fatalf("the token's 6th proof: got %v, want dpop_too_many_for_token", err)
		}
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
