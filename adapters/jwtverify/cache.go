package jwtverify

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/spaapi/domain"
)

// tokenCache remembers successful verifications so that a token an SPA
// sends on every call is checked with RSA once, not on every request.
//
// Entries are keyed by the SHA-256 of the whole token, so a token that
// differs in any byte (a tampered signature included) misses and is fully
// verified. A hit is still checked against the clock (exp, nbf, iat), the
// entry's own time limit and the verifier's configuration generation.
// Entries are spread over shards, each with its own lock, so hits on
// different shards never wait for each other.
type tokenCache struct {
	shards   []cacheShard
	perShard int
	ttl      time.Duration

	hits, misses, evictions atomic.Uint64
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]cacheEntry
}

type cacheEntry struct {
	principal domain.Principal
	kid       string    // key that verified it; "" for tokens without kid
	notBefore time.Time // the later of nbf and iat, minus leeway; zero when the token has neither
	until     time.Time // min(exp plus leeway, cached time plus TTL)
	gen       uint64    // configuration generation it was verified under
}

// newTokenCache returns a cache of at most size entries, each kept at most
// ttl, or nil (no caching) when size is not positive.
func newTokenCache(size int, ttl time.Duration) *tokenCache {
	if size <= 0 {
		return nil
	}
	n := 64
	if size < 4*n {
		n = 1
	}
	c := &tokenCache{shards: make([]cacheShard, n), perShard: size / n, ttl: ttl}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(key [32]byte) *cacheShard {
	return &c.shards[int(key[0])%len(c.shards)]
}

// get returns the cached principal for key if the entry is still valid at
// now under generation gen.
func (c *tokenCache) get(key [32]byte, now time.Time, gen uint64) (domain.Principal, bool) {
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	if !ok {
		c.misses.Add(1)
		return domain.Principal{}, false
	}
	if e.gen != gen || !now.Before(e.until) || now.Before(e.notBefore) {
		s.mu.Lock()
		if cur, still := s.m[key]; still && cur.until == e.until {
			delete(s.m, key)
		}
		s.mu.Unlock()
		c.misses.Add(1)
		return domain.Principal{}, false
	}
	c.hits.Add(1)
	return e.principal, true
}

// put stores e under key, evicting an entry if the shard is full: an
// expired one if the first few looked at include one, else any.
func (c *tokenCache) put(key [32]byte, e cacheEntry, now time.Time) {
	if ttlEnd := now.Add(c.ttl); ttlEnd.Before(e.until) {
		e.until = ttlEnd
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.m[key]; !exists && len(s.m) >= c.perShard {
		victim, looked := [32]byte{}, 0
		for k, old := range s.m { // map order is random: a random victim
			victim = k
			if !now.Before(old.until) || looked >= 8 {
				break
			}
			looked++
		}
		delete(s.m, victim)
		c.evictions.Add(1)
	}
	s.m[key] = e
}

// dropKeys removes the entries verified with any of the given kids, and
// those verified without a kid (whose key is unknown).
func (c *tokenCache) dropKeys(kids map[string]bool) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.kid == "" || kids[e.kid] {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

// len returns the number of entries.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
