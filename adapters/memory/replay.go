package memory

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.ReplayCache = (*ReplayCache)(nil)

// DefaultReplayCacheSize is the default bound of a ReplayCache in proofs:
// enough for 3,000 DPoP proofs a second, every second, with the default
// proof window (300 s, plus 30 s each side). Full, it takes about 57 MB
// of heap (measured with Go 1.26: BenchmarkReplayCacheFull).
const DefaultReplayCacheSize = 1 << 20

const (
	replayShards = 64 // a power of two; locks are per shard
	// replaySweepEvery is how often a shard drops its expired proofs.
	replaySweepEvery = 10 * time.Second
	// replaySoonestSweep is the least time between two sweeps of a shard
	// (or of every shard, when the cache is full) made because a key or
	// token at its share, or the whole cache, holds proofs that have
	// expired: a flood at a bound costs at most ten sweeps a second.
	replaySoonestSweep = 100 * time.Millisecond
)

// ReplayCache is the in-process ports.ReplayCache: one instance's memory,
// bounded, sharded, expiring.
//
// Proofs are kept as 64-bit keyed hashes (hash/maphash, a seed of this
// process's own) with their expiry and owners, so every proof costs the
// same whatever its strings' length (two proofs colliding would only make
// the second refused as a replay, about once in 10^13 with a million
// held). A proof's shard is chosen by the keyed hash of its key's
// thumbprint: all of one key's (and so of its tokens') proofs are in one
// shard, whose lock counts them, and since the seed is secret nobody can
// aim proofs at another's shard. Within a shard, keys and tokens are
// counted by 32-bit hashes: two of them colliding (a few pairs among a
// million keys) would only share one share.
//
// Bounds, none of which ever drops a proof whose ttl has not passed (it
// could then be replayed):
//   - shares: a key holds at most PerKey proofs, a token PerToken; past
//     that, its own new proofs are refused (ports.ReplayCache) and nobody
//     else's;
//   - size: the whole cache holds at most size proofs; full of proofs that
//     have not expired, it fails closed for every new proof with an error
//     wrapping domain.ErrUnavailable (the API answers 503) until some
//     expire. Size it above the peak proofs per second times the longest
//     ttl (DPOP_IAT_OFFSET plus twice DPOP_IAT_LEEWAY), and above the
//     number of keys expected at their share times PerKey.
//
// Expired proofs are dropped by sweeps of their shard: every 10 s when the
// shard is used, and sooner for an owner at its share or a full cache.
// Until then they still count against their owners' shares.
//
// Instances behind a load balancer do not see each other's proofs, and a
// new process has none of the old one's: use the Redis adapter there.
type ReplayCache struct {
	shards   [replayShards]replayShard
	size     int64
	count    atomic.Int64 // proofs held, expired ones not yet swept included
	perKey   int32
	perToken int32
	// seeds key the hashes: seeds[0] a proof's id, [1] its key's hash
	// (the shard, and the key within it), [2] its token's.
	seeds     [3]maphash.Seed
	lastSweep atomic.Int64 // of every shard, when full
	now       func() time.Time
}

type replayShard struct {
	mu      sync.Mutex
	entries map[uint64]replayEntry // by the proof's id
	keys    map[uint32]replayOwner // by the key's hash
	tokens  map[uint32]replayOwner // by the token's hash; tokens are within their key's shard
	// minExpiry: no proof expires before it. lastSweep: Unix nanoseconds.
	minExpiry, lastSweep int64
	_                    [64]byte // keeps shards' locks on separate cache lines
}

// replayEntry is a proof held: its expiry (Unix nanoseconds) and owners.
type replayEntry struct {
	expiry     int64
	key, token uint32 // token 0: none
}

// replayOwner is a key's or token's count of proofs held, and the expiry
// of the first to go (both exact after a sweep; expired proofs count until
// then).
type replayOwner struct {
	n     int32
	first int64
}

// NewReplayCache returns an empty cache of at most size proofs (at least
// 64) with shares (0, or more than size: size); now is the clock (nil
// means time.Now).
func NewReplayCache(size int, shares ports.ReplayShares, now func() time.Time) *ReplayCache {
	if now == nil {
		now = time.Now
	}
	size = max(size, replayShards)
	share := func(n int) int32 {
		if n <= 0 || n > size {
			return int32(min(size, math.MaxInt32))
		}
		return int32(n)
	}
	c := &ReplayCache{size: int64(size), perKey: share(shares.PerKey), perToken: share(shares.PerToken), now: now}
	for i := range c.seeds {
		c.seeds[i] = maphash.MakeSeed()
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.entries = map[uint64]replayEntry{}
		sh.keys = map[uint32]replayOwner{}
		sh.tokens = map[uint32]replayOwner{}
		sh.minExpiry = math.MaxInt64
	}
	return c
}

// FirstSeen implements ports.ReplayCache. A proof already held is seen;
// else, in order: its key's share, its token's share, the cache's size.
func (c *ReplayCache) FirstSeen(_ context.Context, k ports.ReplayKey, ttl time.Duration) (bool, error) {
	keyHash := maphash.String(c.seeds[1], k.JKT)
	key := uint32(keyHash >> 32) // the shard is in the low bits
	var token uint32
	if k.Token != "" {
		token = uint32(c.hash(c.seeds[2], k.JKT, k.Token)) | 1 // never 0, which means none
	}
	id := c.hash(c.seeds[0], k.JKT, k.JTI)
	now := c.now().UnixNano()
	ttl = max(time.Millisecond, (ttl + time.Millisecond - 1).Truncate(time.Millisecond))
	expiry := now + int64(ttl)

	if c.count.Load() >= c.size {
		c.sweepAll(now) // before taking a shard's lock: it takes each in turn
	}
	sh := &c.shards[keyHash%replayShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.entries[id]; ok {
		if e.expiry > now {
			return false, nil
		}
		sh.remove(id, e) // expired: seen again for the first time
		c.count.Add(-1)
	}
	if now >= sh.minExpiry && now-sh.lastSweep >= int64(replaySweepEvery) {
		c.count.Add(-sh.sweep(now))
	}
	if err := c.withinShare(sh, sh.keys, key, c.perKey, domain.ProofKeyShare, now); err != nil {
		return false, err
	}
	if token != 0 {
		if err := c.withinShare(sh, sh.tokens, token, c.perToken, domain.ProofTokenShare, now); err != nil {
			return false, err
		}
	}
	if c.count.Add(1) > c.size {
		c.count.Add(-1)
		return false, fmt.Errorf("memory: replay cache: %w: %d proofs, none expired yet", domain.ErrUnavailable, c.size)
	}
	sh.entries[id] = replayEntry{expiry: expiry, key: key, token: token}
	sh.add(key, token, expiry)
	return true, nil
}

// withinShare returns nil when owner h of owners (sh.keys or sh.tokens)
// holds fewer than share proofs, sweeping sh first if some of them have
// expired; else a *domain.ProofError with reason and when to retry. The
// caller holds sh.mu.
func (c *ReplayCache) withinShare(sh *replayShard, owners map[uint32]replayOwner, h uint32, share int32, reason domain.ProofReason, now int64) error {
	o := owners[h]
	if o.n < share {
		return nil
	}
	if o.first <= now && now-sh.lastSweep >= int64(replaySoonestSweep) {
		c.count.Add(-sh.sweep(now))
		if o = owners[h]; o.n < share {
			return nil
		}
	}
	wait := time.Duration(o.first - now)
	if wait <= 0 { // expired, swept at the next chance
		wait = time.Duration(sh.lastSweep + int64(replaySoonestSweep) - now)
	}
	return &domain.ProofError{Reason: reason, RetryAfter: max(wait, time.Millisecond),
		Cause: fmt.Errorf("memory: replay cache: %d proofs held, the share", o.n)}
}

// hash returns the keyed hash of the pair (a, b), unambiguous: a's length
// goes first.
func (c *ReplayCache) hash(seed maphash.Seed, a, b string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(a)))])
	h.WriteString(a)
	h.WriteString(b)
	return h.Sum64()
}

// add counts a proof expiring at expiry for its key and token (0: none).
// The caller holds sh.mu.
func (sh *replayShard) add(key, token uint32, expiry int64) {
	count := func(owners map[uint32]replayOwner, h uint32) {
		o, ok := owners[h]
		if !ok || expiry < o.first {
			o.first = expiry
		}
		o.n++
		owners[h] = o
	}
	count(sh.keys, key)
	if token != 0 {
		count(sh.tokens, token)
	}
	sh.minExpiry = min(sh.minExpiry, expiry)
}

// remove drops one proof and its counts (its owners' first expiries are
// left as they are: at worst earlier than the truth, which a sweep fixes).
// The caller holds sh.mu.
func (sh *replayShard) remove(id uint64, e replayEntry) {
	delete(sh.entries, id)
	uncount := func(owners map[uint32]replayOwner, h uint32) {
		if o := owners[h]; o.n <= 1 {
			delete(owners, h)
		} else {
			o.n--
			owners[h] = o
		}
	}
	uncount(sh.keys, e.key)
	if e.token != 0 {
		uncount(sh.tokens, e.token)
	}
}

// sweep drops the shard's expired proofs, counts the owners of the others
// afresh, and returns how many it dropped. The caller holds sh.mu.
func (sh *replayShard) sweep(now int64) int64 {
	sh.lastSweep = now
	sh.minExpiry = math.MaxInt64
	clear(sh.keys)
	clear(sh.tokens)
	var dropped int64
	for id, e := range sh.entries {
		if e.expiry <= now {
			delete(sh.entries, id)
			dropped++
			continue
		}
		sh.add(e.key, e.token, e.expiry)
	}
	return dropped
}

// sweepAll sweeps every shard holding expired proofs, at most once per
// replaySoonestSweep: the cache is full, perhaps of proofs that expired
// in shards nobody has used since.
func (c *ReplayCache) sweepAll(now int64) {
	last := c.lastSweep.Load()
	if now-last < int64(replaySoonestSweep) || !c.lastSweep.CompareAndSwap(last, now) {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		if now >= sh.minExpiry {
			c.count.Add(-sh.sweep(now))
		}
		sh.mu.Unlock()
	}
}

// Ready implements ports.Readiness: nil unless the cache is full of proofs
// that have not expired, when every new proof is refused.
func (c *ReplayCache) Ready(context.Context) error {
	if c.count.Load() < c.size {
		return nil
	}
	c.sweepAll(c.now().UnixNano())
	if n := c.count.Load(); n >= c.size {
		return &domain.UnavailableError{What: "the DPoP replay store (full: it holds the most proofs it may, none expired yet)",
			Cause: fmt.Errorf("memory: replay cache: %d proofs held", n)}
	}
	return nil
}

// Len returns how many proofs the cache holds, expired ones not yet
// dropped included.
func (c *ReplayCache) Len() int { return int(c.count.Load()) }
