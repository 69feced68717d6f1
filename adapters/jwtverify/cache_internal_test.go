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
	c.put(key, cacheEntry{principal: domain.Principal{Subject: "s"}, until: now.Add(time.Minute),
		notBefore: now.Add(-time.Minute), gen: 3}, now)

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
	} {
		c.put(key, cacheEntry{principal: domain.Principal{Subject: "s"}, until: now.Add(time.Minute),
			notBefore: now.Add(-time.Minute), gen: 3}, now)
		if _, hit := c.get(key, tc.now, tc.gen); hit != tc.hit {
			t.Errorf("%s: hit %v, want %v", tc.name, hit, tc.hit)
		}
	}
	if _, hit := c.get([32]byte{2}, now, 3); hit {
		t.Errorf("unknown key hit")
	}
}

func TestCacheTTLCapsEntries(t *testing.T) {
	c := newTokenCache(100, time.Minute)
	now := time.Now()
	c.put([32]byte{1}, cacheEntry{until: now.Add(time.Hour)}, now)
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
		key := func(set string, i int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "%s-%d", set, i)) }
		entry := cacheEntry{until: now.Add(time.Hour)}
		// request looks key k up and, on a miss, caches it as the verifier does.
		request := func(k [32]byte) bool {
			if _, hit := c.get(k, now, 0); hit {
				return true
			}
			c.put(k, entry, now)
			return false
		}
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
