package memory

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.ReplayCache = (*ReplayCache)(nil)

// DefaultReplayCacheSize is the default bound of a ReplayCache in keys:
// enough for 3,000 DPoP proofs a second, every second, with the default
// proof window (300 s, plus 30 s each side). Full, it takes about 56 MB of
// heap (measured with Go 1.26).
const DefaultReplayCacheSize = 1 << 20

const (
	replayShards = 64 // a power of two; locks are per shard
	// replaySweepEvery is how often a shard drops its expired keys.
	replaySweepEvery = 10 * time.Second
	// replayFullSweepGap is the least time between two sweeps of a full
	// shard, so that a flood at the bound costs one sweep a second per
	// shard, not one per request.
	replayFullSweepGap = time.Second
)

// ReplayCache is the in-process ports.ReplayCache: one instance's memory,
// bounded, sharded, expiring. Keys are kept as 128-bit SHA-256 prefixes
// with their expiry time, so every key costs the same whatever its length.
//
// At the bound: a key that has not expired is never dropped to make room,
// since its proof could then be replayed. When a shard is full of keys that
// have not expired, FirstSeen fails closed with an error wrapping
// domain.ErrUnavailable (the API answers 503 with Retry-After) until keys
// expire; memory never grows past the bound. Size it above the peak
// proofs per second times the longest ttl (DPOP_IAT_OFFSET plus twice
// DPOP_IAT_LEEWAY).
//
// Instances behind a load balancer do not see each other's keys: use the
// Redis adapter there.
type ReplayCache struct {
	shards   [replayShards]replayShard
	perShard int
	now      func() time.Time
}

type replayShard struct {
	mu        sync.Mutex
	keys      map[[16]byte]int64 // digest prefix → expiry, Unix nanoseconds
	minExpiry int64              // no key expires before this
	lastSweep int64
	_         [64]byte // keeps shards' locks on separate cache lines
}

// NewReplayCache returns an empty cache of at most size keys (rounded up to
// a multiple of 64, at least 64); now is the clock (nil means time.Now).
func NewReplayCache(size int, now func() time.Time) *ReplayCache {
	if now == nil {
		now = time.Now
	}
	c := &ReplayCache{perShard: max(1, (size+replayShards-1)/replayShards), now: now}
	for i := range c.shards {
		c.shards[i].keys = map[[16]byte]int64{}
		c.shards[i].minExpiry = math.MaxInt64
	}
	return c
}

// FirstSeen implements ports.ReplayCache.
func (c *ReplayCache) FirstSeen(_ context.Context, key string, ttl time.Duration) (bool, error) {
	sum := sha256.Sum256([]byte(key))
	var k [16]byte
	copy(k[:], sum[:16])
	sh := &c.shards[binary.LittleEndian.Uint64(sum[16:24])%replayShards]
	now := c.now().UnixNano()
	ttl = max(time.Millisecond, (ttl + time.Millisecond - 1).Truncate(time.Millisecond))
	expiry := now + int64(ttl)

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if exp, ok := sh.keys[k]; ok {
		if exp > now {
			return false, nil
		}
		sh.keys[k] = expiry // expired: seen again for the first time
		sh.minExpiry = min(sh.minExpiry, expiry)
		return true, nil
	}
	full := len(sh.keys) >= c.perShard
	if now >= sh.minExpiry && (full && now-sh.lastSweep >= int64(replayFullSweepGap) || now-sh.lastSweep >= int64(replaySweepEvery)) {
		sh.sweep(now)
		full = len(sh.keys) >= c.perShard
	}
	if full {
		return false, fmt.Errorf("memory: replay cache: %w: %d keys, none expired yet", domain.ErrUnavailable, c.perShard*replayShards)
	}
	sh.keys[k] = expiry
	sh.minExpiry = min(sh.minExpiry, expiry)
	return true, nil
}

// Ready implements ports.Readiness: a cache in process is always there.
// (A full one still answers: it refuses new keys, which FirstSeen reports.)
func (c *ReplayCache) Ready(context.Context) error { return nil }

// sweep drops the shard's expired keys. The caller holds sh.mu.
func (sh *replayShard) sweep(now int64) {
	sh.lastSweep = now
	sh.minExpiry = math.MaxInt64
	for k, exp := range sh.keys {
		if exp <= now {
			delete(sh.keys, k)
		} else {
			sh.minExpiry = min(sh.minExpiry, exp)
		}
	}
}

// Len returns how many keys the cache holds, expired ones not yet dropped
// included.
func (c *ReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.keys)
		sh.mu.Unlock()
	}
	return n
}
