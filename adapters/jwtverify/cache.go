package jwtverify

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/example/spaapi/domain"
)

// tokenCache remembers successful verifications so that a token an SPA
// sends on every call is checked with RSA once, not on every request.
//
// Entries are keyed by the SHA-256 of the whole token, so a token that
// differs in any byte (a tampered signature included) misses and is fully
// verified. A hit is still checked against the clock (exp, nbf, iat), the
// entry's own time limit and the verifier's configuration generation.
//
// The cache holds at most size entries in all, counted across its
// shards; each shard has its own lock, so hits on different shards never
// wait for each other. When the cache is full, a new entry makes room in
// its own shard, by S3-FIFO (Yang et al., "FIFO queues are all you need
// for cache eviction", SOSP 2023), which keeps the tokens in use through
// a flood of tokens seen once:
//
//   - A new token enters the shard's probation queue, a tenth of its
//     share. Leaving it unused (the fate of a one-off token), it is
//     evicted, and its fingerprint remembered in the ghost list; used
//     while there, it moves to the main queue instead.
//   - A token missed again while its fingerprint is in the ghost list
//     goes straight to the main queue: it is in use, just not often.
//   - The main queue is a CLOCK: the entry at its head is evicted unless
//     it was used since it last came round (up to three times counted),
//     in which case it goes round again.
//
// Hits only count uses (an atomic add, under the read lock); entries move
// between queues only when something must be evicted.
type tokenCache struct {
	shards     []cacheShard
	size       int64 // most entries in all
	probation  int   // a shard's share of the probation queue
	ghostLimit int   // most fingerprints a shard's ghost list keeps
	ttl        time.Duration

	count     atomic.Int64 // entries in all shards
	evictions atomic.Uint64
}

type cacheShard struct {
	mu     sync.RWMutex
	m      map[[32]byte]*cacheEntry
	small  entryQueue // probation
	main   entryQueue
	ghost  ghostList
	hits   atomic.Uint64 // counted per shard: one shared counter would
	misses atomic.Uint64 // be written by every core on every request
	_      [64]byte      // keeps neighbouring shards' locks off one cache line
}

// cacheEntry is one verified token: what a hit returns and checks.
type cacheEntry struct {
	principal domain.Principal
	kid       string // key that verified it; "" for tokens without kid
	notBefore int64  // the later of nbf and iat, minus leeway, Unix nanoseconds; math.MinInt64 when the token has none
	until     int64  // min(exp plus leeway, cached time plus TTL), Unix nanoseconds
	gen       uint64 // configuration generation it was verified under

	key        [32]byte
	prev, next *cacheEntry  // in its queue
	inMain     bool         // which queue: main, or probation
	uses       atomic.Int32 // since it entered its queue or last went round, at most maxUses
}

// maxUses caps the uses counted, so that a token used often survives at
// most that many rounds of the main queue unused.
const maxUses = 3

// newCacheEntry returns an entry for p, verified under gen with the key
// kid, valid from notBefore (zero: no nbf) until until.
func newCacheEntry(p domain.Principal, kid string, notBefore, until time.Time, gen uint64) *cacheEntry {
	shareClaimNames(p.Claims)
	e := &cacheEntry{principal: p, kid: kid, notBefore: math.MinInt64, until: unixNano(until), gen: gen}
	if !notBefore.IsZero() {
		e.notBefore = unixNano(notBefore)
	}
	return e
}

// claimNames are the claim names most access tokens carry. An entry's
// claims share these strings rather than keeping the copies JSON decoding
// made of them for each token (some 80 bytes an entry).
var claimNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scp", "azp",
		"client_id", "cid", "appid", "permissions", "roles", "groups", "cnf", "auth_time", "sid", "ver",
		"tid", "oid", "uid", "acr", "amr", "org_id", "realm_access", "resource_access", "token_use", "username"} {
		m[n] = n
	}
	return m
}()

// shareClaimNames makes claims use the strings of claimNames for its
// keys. The map must not be in use elsewhere yet.
func shareClaimNames(claims map[string]any) {
	for k, v := range claims {
		if name, ok := claimNames[k]; ok && unsafe.StringData(name) != unsafe.StringData(k) {
			delete(claims, k)
			claims[name] = v
		}
	}
}

// validAt reports whether the entry may be trusted at now under gen.
func (e *cacheEntry) validAt(now time.Time, gen uint64) bool {
	t := unixNano(now)
	return e.gen == gen && t < e.until && t >= e.notBefore
}

// unixNano is t.UnixNano, held to the years int64 nanoseconds reach
// (1678-2262) instead of overflowing: an exp in the year 9999 is the
// greatest time, an nbf in the year 1 the least.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minNano):
		return math.MinInt64
	case t.After(maxNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var minNano, maxNano = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

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
	share := float64(size) / float64(n)
	c := &tokenCache{
		shards:     make([]cacheShard, n),
		size:       int64(size),
		probation:  max(1, int(share/10)),
		ghostLimit: max(1, int(share*0.9)),
		ttl:        ttl,
	}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(key [32]byte) *cacheShard {
	return &c.shards[int(key[0])%len(c.shards)]
}

// get returns the cached principal for key if the entry is still valid at
// now under generation gen. An entry found invalid is removed.
func (c *tokenCache) get(key [32]byte, now time.Time, gen uint64) (domain.Principal, bool) {
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[key]
	var p domain.Principal
	valid := e != nil && e.validAt(now, gen)
	if valid {
		p = e.principal
		if e.uses.Load() < maxUses {
			e.uses.Add(1) // a race may count past maxUses: harmless
		}
	}
	s.mu.RUnlock()
	if !valid {
		if e != nil {
			s.mu.Lock()
			if s.m[key] == e {
				c.remove(s, e)
			}
			s.mu.Unlock()
		}
		s.misses.Add(1)
		return domain.Principal{}, false
	}
	s.hits.Add(1)
	return p, true
}

// put stores e under key, its life capped at the TTL from now. When the
// cache is full it makes room in key's shard; if the shard has nothing to
// evict, e is not cached.
func (c *tokenCache) put(key [32]byte, e *cacheEntry, now time.Time) {
	e.until = min(e.until, unixNano(now.Add(c.ttl)))
	e.key = key
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[key]; old != nil { // verified twice at once
		c.remove(s, old)
	}
	if c.count.Add(1) > c.size {
		if !c.evict(s) {
			c.count.Add(-1)
			return
		}
	}
	s.m[key] = e
	if s.ghost.take(fingerprint(key)) {
		e.inMain = true
		s.main.push(e)
	} else {
		s.small.push(e)
	}
}

// evict removes one entry from s, as S3-FIFO does (see tokenCache). It
// reports false if s has none.
func (c *tokenCache) evict(s *cacheShard) bool {
	for {
		switch {
		case s.small.len > 0 && (s.small.len >= c.probation || s.main.len == 0):
			e := s.small.pop()
			if e.uses.Load() > 0 { // used on probation: keep it
				e.uses.Store(0)
				e.inMain = true
				s.main.push(e)
				continue
			}
			s.ghost.add(fingerprint(e.key), c.ghostLimit)
			delete(s.m, e.key)
		case s.main.len > 0:
			e := s.main.pop()
			if u := e.uses.Load(); u > 0 { // used since it last came round
				e.uses.Store(min(u, maxUses) - 1)
				s.main.push(e)
				continue
			}
			delete(s.m, e.key)
		default:
			return false
		}
		c.count.Add(-1)
		c.evictions.Add(1)
		return true
	}
}

// remove takes e out of s. The caller holds s.mu.
func (c *tokenCache) remove(s *cacheShard, e *cacheEntry) {
	if e.inMain {
		s.main.unlink(e)
	} else {
		s.small.unlink(e)
	}
	delete(s.m, e.key)
	c.count.Add(-1)
}

// dropKeys removes the entries verified with any of the given kids, and
// those verified without a kid (whose key is unknown).
func (c *tokenCache) dropKeys(kids map[string]bool) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, e := range s.m {
			if e.kid == "" || kids[e.kid] {
				c.remove(s, e)
			}
		}
		s.mu.Unlock()
	}
}

// len returns the number of entries.
func (c *tokenCache) len() int { return int(c.count.Load()) }

// hitsAndMisses returns the hits and misses of all shards.
func (c *tokenCache) hitsAndMisses() (hits, misses uint64) {
	for i := range c.shards {
		hits += c.shards[i].hits.Load()
		misses += c.shards[i].misses.Load()
	}
	return hits, misses
}

// entryQueue is a FIFO of entries, linked through the entries themselves.
type entryQueue struct {
	head, tail *cacheEntry
	len        int
}

func (q *entryQueue) push(e *cacheEntry) {
	e.prev, e.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = e
	} else {
		q.head = e
	}
	q.tail = e
	q.len++
}

func (q *entryQueue) pop() *cacheEntry {
	e := q.head
	q.unlink(e)
	return e
}

func (q *entryQueue) unlink(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.prev, e.next = nil, nil
	q.len--
}

// ghostList remembers the fingerprints of tokens evicted from probation,
// about the most recent limit of them (a fingerprint taken and added again
// may be forgotten early: harmless).
type ghostList struct {
	set  map[uint64]struct{}
	ring []uint64 // in the order added; ring[next] is the oldest when full
	next int
}

// fingerprint is a token's ghost: 64 bits of its SHA-256. A collision
// only sends another token to the main queue.
func fingerprint(key [32]byte) uint64 { return binary.LittleEndian.Uint64(key[:8]) }

func (g *ghostList) add(fp uint64, limit int) {
	if g.set == nil {
		g.set = make(map[uint64]struct{})
	}
	if _, ok := g.set[fp]; ok {
		return
	}
	if len(g.ring) < limit {
		g.ring = append(g.ring, fp)
	} else {
		delete(g.set, g.ring[g.next])
		g.ring[g.next] = fp
		g.next = (g.next + 1) % len(g.ring)
	}
	g.set[fp] = struct{}{}
}

// take reports whether fp is in the list, and removes it from the set (its
// place in the ring is reused in turn).
func (g *ghostList) take(fp uint64) bool {
	if _, ok := g.set[fp]; !ok {
		return false
	}
	delete(g.set, fp)
	return true
}
