package redis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.FailureLimiter = (*FailureLimiter)(nil)

// DefaultLimiterPrefix namespaces a FailureLimiter's keys.
const DefaultLimiterPrefix = "spaapi:authfail:"

// limiterDownFor is how long a FailureLimiter counts in process, without
// asking Redis, after Redis failed to answer.
const limiterDownFor = time.Second

// LimiterConfig says which Redis a FailureLimiter uses and what it limits.
type LimiterConfig struct {
	// Config is the connection, as for the replay cache; its Prefix
	// defaults to DefaultLimiterPrefix.
	Config
	// Limit is the limit; it must not be off.
	Limit domain.FailureLimit
	// Local counts failures while Redis cannot answer (an in-process
	// limiter with the same Limit). Required.
	Local ports.FailureLimiter
	// Now is the clock (nil means time.Now). Instances' clocks must agree
	// to well within an Interval, as they must for token lifetimes.
	Now func() time.Time
}

// FailureLimiter is a ports.FailureLimiter whose counts are kept in Redis,
// so that a client's failures at every instance using the same Redis add
// up. Each failure is one round trip running one script (limiterScript):
// the key of the client, "<prefix><client>", holds when its bucket is full
// again (Unix milliseconds, GCRA as in adapters/memory) and expires then,
// so a client that stops failing leaves nothing behind. Times are this
// instance's clock, in whole milliseconds (the Interval rounded up).
//
// Blocked never asks Redis: it is asked before every credential check,
// and a round trip there would cost every request with credentials far
// more than the check it saves. Instead, each instance remembers the
// blocks Redis reported to it, in a fixed table of its own. So a client
// blocked by its failures elsewhere is refused here from its first failure
// here (already counted in Redis, and answered as usual): with k
// instances, a blocked client gets at most k-1 more checks per block than
// with one, plus those already under way.
//
// When Redis cannot answer (down, slow past the timeout, out of memory),
// Failed counts in Local instead and does not ask Redis again for a
// second: the limit fails open to one per instance, rather than closed (a
// Redis outage must not lock everyone out) or off. Nothing blocks a client
// because Redis is in trouble.
type FailureLimiter struct {
	client   *goredis.Client
	prefix   string
	timeout  time.Duration
	interval int64 // ms per failure
	depth    int64 // ms: Failures × interval, the most state a client holds
	now      func() time.Time
	local    ports.FailureLimiter
	blocks   blockTable
	log      *slog.Logger
	down     atomic.Int64 // Unix ns until which Redis is not asked
	failing  atomic.Bool  // the last call to Redis failed (for the log)
}

// limiterScript records one failure of the client whose key is KEYS[1],
// at ARGV[1] (ms), for an interval of ARGV[2] ms and a depth of ARGV[3]
// ms, and returns how much state the client holds afterwards (ms).
var limiterScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local depth = tonumber(ARGV[3])
local full = tonumber(redis.call('GET', KEYS[1]) or 0) or 0
if full < now then full = now end
full = math.min(full + interval, now + depth)
redis.call('SET', KEYS[1], string.format('%d', full), 'PX', full - now)
return full - now
`)

// NewFailureLimiter returns a limiter using cfg.URL and a cleanup that
// closes its connections. Like New it does not connect; a bad cfg is an
// error without the URL's password.
func NewFailureLimiter(cfg LimiterConfig) (*FailureLimiter, func(), error) {
	if cfg.Limit.Off() {
		return nil, nil, errors.New("redis: failure limiter: the limit is off")
	}
	if cfg.Local == nil {
		return nil, nil, errors.New("redis: failure limiter: no local limiter to fall back on")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultLimiterPrefix
	}
	// The replay cache's connection settings suit here too: every call
	// bounded by the timeout, never retried (a retried script whose first
	// reply was lost would count one failure twice).
	conn, stop, err := New(cfg.Config)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval := max(1, (cfg.Limit.Interval() + time.Millisecond - 1).Milliseconds())
	l := &FailureLimiter{
		client: conn.client, prefix: conn.prefix, timeout: conn.timeout,
		interval: interval, depth: interval * int64(cfg.Limit.Failures),
		now: cfg.Now, local: cfg.Local, log: log,
	}
	l.blocks.seed = maphash.MakeSeed()
	return l, stop, nil
}

// Blocked implements ports.FailureLimiter, from this process's memory.
func (l *FailureLimiter) Blocked(ctx context.Context, client string) time.Duration {
	return max(l.blocks.get(client, l.now), l.local.Blocked(ctx, client))
}

// Failed implements ports.FailureLimiter with one script in Redis, or in
// Local when Redis cannot answer.
func (l *FailureLimiter) Failed(ctx context.Context, client string) time.Duration {
	now := l.now()
	if now.UnixNano() < l.down.Load() {
		return l.local.Failed(ctx, client)
	}
	// Counted even when the client has gone: leaving at once must not
	// spare it the failure (nor pass for Redis being down).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	nowMS := now.UnixMilli()
	held, err := limiterScript.Run(ctx, l.client, []string{l.key(client)}, nowMS, l.interval, l.depth).Int64()
	if err != nil {
		l.down.Store(now.Add(limiterDownFor).UnixNano())
		if !l.failing.Swap(true) {
			l.log.WarnContext(ctx, "redis: failed credential checks are counted per instance until Redis answers", "error", err)
		}
		return l.local.Failed(ctx, client)
	}
	if l.failing.Swap(false) {
		l.log.InfoContext(ctx, "redis: failed credential checks are counted in Redis again")
	}
	wait := time.Duration(held-(l.depth-l.interval)) * time.Millisecond
	if wait <= 0 {
		return 0
	}
	l.blocks.put(client, time.UnixMilli(nowMS).Add(wait).UnixNano())
	return wait
}

// maxPlainKey is the longest client name used as it is in a key; longer
// ones (never an address) are hashed.
const maxPlainKey = 64

// key returns client's key: the prefix and the client as it is (an
// address, so that an operator can find or delete it), or, when it is long
// or not printable ASCII, "sha256:" and its hash.
func (l *FailureLimiter) key(client string) string {
	plain := len(client) <= maxPlainKey
	for i := 0; plain && i < len(client); i++ {
		plain = client[i] > ' ' && client[i] < 0x7f
	}
	if plain {
		return l.prefix + client
	}
	sum := sha256.Sum256([]byte(client))
	return l.prefix + "sha256:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// blockSlots is how many blocks an instance remembers: a fixed table,
// each client in the one slot its keyed hash names. A block pushed out by
// another lands here again at that client's next failure.
const blockSlots = 4096

// blockTable is the blocks this instance learned from Redis.
type blockTable struct {
	seed  maphash.Seed
	slots [blockSlots]blockSlot
}

type blockSlot struct {
	mu    sync.Mutex
	tag   uint64
	until int64 // Unix ns
}

func (b *blockTable) slot(client string) (uint64, *blockSlot) {
	h := maphash.String(b.seed, client)
	return h | 1, &b.slots[h%blockSlots] // | 1: a tag is never 0, an empty slot's
}

// get returns how long client is still blocked; it reads the clock only
// for a client it holds.
func (b *blockTable) get(client string, now func() time.Time) time.Duration {
	tag, s := b.slot(client)
	s.mu.Lock()
	until := int64(0)
	if s.tag == tag {
		until = s.until
	}
	s.mu.Unlock()
	if until == 0 {
		return 0
	}
	return time.Duration(max(0, until-now().UnixNano()))
}

func (b *blockTable) put(client string, until int64) {
	tag, s := b.slot(client)
	s.mu.Lock()
	s.tag, s.until = tag, until
	s.mu.Unlock()
}
