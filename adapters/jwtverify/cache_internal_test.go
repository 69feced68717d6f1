package jwtverify

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

func TestCacheEntryChecks(t *testing.T) {
	c := newTokenCache(100, time.Hour)
	now := time.Now()
	key := [32]byte{1}
	for _, tc := range []struct {
		name string
		now  time.Time
		gen  uint64
		hit  bool
	}{
		{"valid", now, 3, true},
		{"another configuration generation", now, 4, false},
		{"before nbf", now.Add(-2 * time.Minute), 3, false},
		{"at its end", now.Add(time.Minute), 3, false},
		{"at its nbf", now.Add(-time.Minute), 3, true},
	} {
		c.put(key, newCacheEntry(domain.Principal{Subject: "s"}, "k", now.Add(-time.Minute), now.Add(time.Minute), 3), now)
		p, hit := c.get(key, tc.now, tc.gen)
		if hit != tc.hit || hit && p.Subject != "s" {
			t.Errorf("%s: hit %v (subject %q), want %v", tc.name, hit, p.Subject, tc.hit)
		}
		if _, again := c.get(key, now, 3); again != tc.hit {
			t.Errorf("%s: an entry refused once must be gone; a valid one must stay", tc.name)
		}
	}
	if _, hit := c.get([32]byte{2}, now, 3); hit {
		t.Errorf("unknown key hit")
	}
	if c.len() != 1 {
		t.Errorf("entries: got %d, want 1", c.len())
	}
}

// Times beyond what int64 nanoseconds hold are clamped, not wrapped: an
// exp in the year 9999 is still in the future (the TTL then ends the
// entry), an nbf in the year 1 in the past.
func TestCacheEntryFarTimes(t *testing.T) {
	c := newTokenCache(100, time.Minute)
	now := time.Now()
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	old := time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)
	c.put([32]byte{1}, newCacheEntry(domain.Principal{}, "", old, far, 0), now)
	if _, hit := c.get([32]byte{1}, now, 0); !hit {
		t.Errorf("entry with exp in 9999 and nbf in year 1: miss, want hit")
	}
	if _, hit := c.get([32]byte{1}, now.Add(61*time.Second), 0); hit {
		t.Errorf("entry outlived the TTL")
	}
	// An nbf far ahead (a token the verifier would not have cached).
	c.put([32]byte{2}, newCacheEntry(domain.Principal{}, "", far, far, 0), now)
	if _, hit := c.get([32]byte{2}, now, 0); hit {
		t.Errorf("entry before its nbf in 9999: hit")
	}
}

// key returns the cache key of token i of set, as the verifier makes it.
func key(set string, i int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "%s-%d", set, i)) }

// request looks k up and, on a miss, caches it, as the verifier does, and
// reports whether it hit.
func request(c *tokenCache, k [32]byte, now time.Time) bool {
	if _, hit := c.get(k, now, 0); hit {
		return true
	}
	c.put(k, newCacheEntry(domain.Principal{}, "k", time.Time{}, now.Add(time.Hour), 0), now)
	return false
}

// A cache of the default size holds that many tokens, however the shards
// divide them.
func TestCacheHoldsItsSize(t *testing.T) {
	n := DefaultCacheSize
	c := newTokenCache(n, time.Hour)
	now := time.Now()
	for i := range n {
		request(c, key("w", i), now)
	}
	if c.len() != n || c.evictions.Load() != 0 {
		t.Fatalf("after %d tokens: %d entries, %d evictions; want %d and 0", n, c.len(), c.evictions.Load(), n)
	}
	for i := range n {
		if !request(c, key("w", i), now) {
			t.Fatalf("token %d of %d: miss, want every one cached", i, n)
		}
	}
	request(c, key("more", 0), now) // one more: one out
	if c.len() != n || c.evictions.Load() != 1 {
		t.Errorf("one beyond the size: %d entries, %d evictions; want %d and 1", c.len(), c.evictions.Load(), n)
	}
}

// Tokens in use survive a flood of tokens seen once: the flood passes
// through probation. (The random eviction this replaced kept about half.)
func TestCacheKeepsTokensInUseThroughABurst(t *testing.T) {
	n := DefaultCacheSize
	c := newTokenCache(n, time.Hour)
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		request(c, key("w", i), now)
	}
	for range 3 * n {
		request(c, key("w", rng.IntN(n)), now)
	}
	for i := range 2 * n {
		request(c, key("burst", i), now)
	}
	kept := 0
	for i := range n {
		if _, hit := c.get(key("w", i), now, 0); hit {
			kept++
		}
	}
	if kept < n*9/10 {
		t.Errorf("after %d one-off tokens, %d of %d tokens in use still cached; want at least 90%%", 2*n, kept, n)
	}
	if c.len() > n {
		t.Errorf("entries: %d, more than the size %d", c.len(), n)
	}
}

// A token evicted from probation unused (its ghost remembered) and asked
// for again enters the main queue.
func TestCacheGhostAdmitsReturningTokens(t *testing.T) {
	c := newTokenCache(10, time.Hour) // one shard: probation 1, main 9
	now := time.Now()
	for i := range 10 {
		request(c, key("a", i), now)
	}
	request(c, key("b", 0), now) // evicts a-0 from probation, unused: a ghost
	s := c.shard(key("a", 0))
	if _, ok := s.m[key("a", 0)]; ok {
		t.Fatalf("a-0 still cached")
	}
	request(c, key("a", 0), now)
	e := s.m[key("a", 0)]
	if e == nil || !e.inMain {
		t.Errorf("a-0 asked for again: got %+v, want it in the main queue", e)
	}
	if c.len() != 10 || s.small.len+s.main.len != 10 {
		t.Errorf("entries %d, queued %d, want 10 and 10", c.len(), s.small.len+s.main.len)
	}
}

func TestCacheTTLCapsEntries(t *testing.T) {
	c := newTokenCache(100, time.Minute)
	now := time.Now()
	c.put([32]byte{1}, newCacheEntry(domain.Principal{}, "", time.Time{}, now.Add(time.Hour), 0), now)
	if _, hit := c.get([32]byte{1}, now.Add(61*time.Second), 0); hit {
		t.Errorf("entry outlived the TTL")
	}
}

func TestNoCacheWhenSizeIsZero(t *testing.T) {
	if newTokenCache(0, time.Minute) != nil || newTokenCache(-1, time.Minute) != nil {
		t.Errorf("want no cache for sizes <= 0")
	}
}

// BenchmarkCacheHitRate replays a trace against a cache of the default
// size and reports hit rates (%), not speed:
//
//   - warm: a working set of DefaultCacheSize tokens, requested in random
//     order, once every token has been seen;
//
//   - burst: the working set's hit rate while 20,000 one-off tokens
//     (each seen once) arrive interleaved with it, one for one;
//
//   - after1, after2: the first and second DefaultCacheSize requests of
//     the working set after the burst (recovery).
//
//     go test -run '^$' -bench CacheHitRate -benchtime 1x ./adapters/jwtverify/
func BenchmarkCacheHitRate(b *testing.B) {
	const burst = 20_000
	n := DefaultCacheSize
	for b.Loop() {
		c := newTokenCache(n, time.Hour)
		now := time.Now()
		rng := rand.New(rand.NewPCG(1, 2))
		request := func(k [32]byte) bool { return request(c, k, now) }
		// working runs count requests of the working set; its hit rate in %.
		working := func(count int, between func(i int)) float64 {
			hits := 0
			for i := range count {
				if request(key("w", rng.IntN(n))) {
					hits++
				}
				if between != nil {
					between(i)
				}
			}
			return 100 * float64(hits) / float64(count)
		}
		for i := range n { // every token seen once, then warm
			request(key("w", i))
		}
		working(5*n, nil)
		b.ReportMetric(working(5*n, nil), "warm-hit%")
		b.ReportMetric(working(burst, func(i int) { request(key("burst", i)) }), "burst-hit%")
		b.ReportMetric(working(n, nil), "after1-hit%")
		b.ReportMetric(working(n, nil), "after2-hit%")
	}
}
