// Package redis keeps the DPoP replay cache in Redis (ports.ReplayCache),
// so that every API instance using the same Redis refuses a DPoP proof that
// any of them has accepted, and counts every key's and token's share
// across all of them.
//
// Layout: one sorted set per proof key and one per access token, whose
// members are the proofs' jtis (hashed) scored by their expiry in
// milliseconds on Redis's clock:
//
//	<prefix>k:<base64url(SHA-256(jkt))>          a key's proofs
//	<prefix>t:<base64url(SHA-256(jkt, token))>   a token's proofs
//
// One Lua script per check drops the set's expired members, answers
// "seen" if the jti is there, refuses it if the key's or the token's set
// holds its share, and otherwise adds it to both, extending their expiry
// to the proof's. Scripts run atomically, so the check and the record are
// one step on every instance. What clients sent never reaches Redis: only
// fixed-length hashes. Every call is bounded by a timeout and never
// retried (a retried write whose first reply was lost would answer
// "seen"); when Redis cannot answer, FirstSeen returns an error wrapping
// domain.ErrUnavailable, never "first seen".
//
// Fail closed, in three more ways:
//   - eviction: a Redis whose maxmemory-policy is anything but noeviction
//     may evict used proofs under memory pressure, and an evicted proof can
//     be replayed. The policy is read (INFO memory, which managed Redis
//     services allow where CONFIG is disabled; else CONFIG GET) on every
//     new connection and every 10 s: under another policy every check fails
//     (503) and Ready says why; Check lets cmd/api refuse to start.
//   - restarts: a Redis restarted without persistence has forgotten every
//     proof. Its run_id (INFO server) is read on every new connection, so a
//     restart is noticed before the first command reaches it; proofs that
//     could have been accepted before it (ValidFrom before its start, or
//     before the moment a change was noticed) are then refused with
//     dpop_replay_store_restarted, until clients' fresh proofs are recent
//     enough: DPOP_IAT_LEEWAY after the restart.
//   - full: under noeviction a Redis at maxmemory refuses writes; checks
//     then fail (503), and Ready, which writes a probe key, says so.
package redis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.ReplayCache = (*ReplayCache)(nil)
	_ ports.Readiness   = (*ReplayCache)(nil)
)

// Defaults of Config.
const (
	DefaultPrefix  = "spaapi:replay:"
	DefaultTimeout = 500 * time.Millisecond
)

// settingsEvery is how often FirstSeen reads the server's settings again,
// besides on every new connection: a CONFIG SET of another eviction policy
// at run time is noticed within it.
const settingsEvery = 10 * time.Second

// Config says which Redis to use and how.
type Config struct {
	// URL is the server (REDIS_URL), redis://[user:password@]host:port[/db]
	// or rediss:// for TLS; go-redis's options may follow as query
	// parameters.
	URL string
	// Prefix namespaces the keys (default DefaultPrefix), so one Redis can
	// serve several applications, or tests, apart.
	Prefix string
	// Timeout bounds one check, connecting included (default
	// DefaultTimeout).
	Timeout time.Duration
	// Shares bound how many live proofs one key and one token may hold
	// (ports.ReplayShares; 0: no bound of its own).
	Shares ports.ReplayShares
	// Log, when set, receives go-redis's own messages (failed dials and
	// the like) as warnings, instead of go-redis writing plain lines to
	// stderr, and says when a restart of Redis is noticed. go-redis has
	// one logger per process: the last New with a Log sets it.
	Log *slog.Logger
}

// slogPrinter passes go-redis's messages to a slog.Logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// ReplayCache is a ports.ReplayCache in Redis. It is safe for concurrent use.
type ReplayCache struct {
	client  *goredis.Client
	prefix  string
	timeout time.Duration
	shares  ports.ReplayShares
	log     *slog.Logger

	settingsAt atomic.Int64 // when the settings were last read, Unix nanoseconds

	mu sync.Mutex
	// runID is the server's run_id when last read ("" before the first).
	runID string
	// lostBefore: proofs that could have been accepted before it may have
	// been forgotten (the server started, or changed, then).
	lostBefore time.Time
	// policyErr is the *PolicyError of the last settings read, or nil.
	policyErr error
}

// PolicyError is a Redis whose eviction policy can drop used proofs, or
// whose policy cannot be read.
type PolicyError struct {
	// Policy is maxmemory-policy's value, "" when it could not be read.
	Policy string
	Cause  error // why it could not be read
}

func (e *PolicyError) Error() string {
	if e.Policy == "" {
		return fmt.Sprintf("cannot read Redis's maxmemory-policy (INFO memory and CONFIG GET maxmemory-policy both failed: %v); "+
			"replay protection needs maxmemory-policy noeviction, and the API's Redis user needs INFO", e.Cause)
	}
	return fmt.Sprintf("Redis's maxmemory-policy is %s, which can evict used DPoP proofs under memory pressure, "+
		"and an evicted proof can be replayed: set maxmemory-policy noeviction "+
		"(CONFIG SET maxmemory-policy noeviction, redis.conf, or your provider's parameter group)", e.Policy)
}

// Unwrap: a check refused for this reason is a store unavailable.
func (e *PolicyError) Unwrap() []error { return []error{domain.ErrUnavailable, e.Cause} }

// New returns a cache using cfg.URL and a cleanup that closes its
// connections. It does not connect: it starts while Redis is down, and each
// check connects as needed (Check connects now). A bad cfg is an error
// saying what is wrong, without the URL's password.
func New(cfg Config) (*ReplayCache, func(), error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 || cfg.Timeout > time.Minute {
		return nil, nil, fmt.Errorf("redis: timeout %v out of range (more than 0, at most 1m)", cfg.Timeout)
	}
	if cfg.Shares.PerKey < 0 || cfg.Shares.PerToken < 0 {
		return nil, nil, fmt.Errorf("redis: shares %+v out of range (0 or more)", cfg.Shares)
	}
	if !strings.HasPrefix(cfg.URL, "redis://") && !strings.HasPrefix(cfg.URL, "rediss://") {
		return nil, nil, errors.New("redis: the URL must start with redis:// or rediss://")
	}
	opts, err := goredis.ParseURL(cfg.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("redis: the URL is not valid: %s", redactedError(err, cfg.URL))
	}
	if cfg.Log != nil {
		goredis.SetLogger(slogPrinter{cfg.Log})
	}
	opts.MaxRetries = -1 // never resend a write
	opts.DialerRetries = 1
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.PoolTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	c := &ReplayCache{prefix: cfg.Prefix, timeout: cfg.Timeout, shares: cfg.Shares, log: cfg.Log}
	opts.OnConnect = func(ctx context.Context, cn *goredis.Conn) error { return c.readSettings(ctx, cn) }
	c.client = goredis.NewClient(opts)
	return c, func() { _ = c.client.Close() }, nil
}

// redactedError returns err's text with the URL's password, if any, removed.
func redactedError(err error, rawURL string) string {
	msg := err.Error()
	if _, rest, ok := strings.Cut(rawURL, "://"); ok {
		if userinfo, _, ok := strings.Cut(rest, "@"); ok {
			if _, pass, ok := strings.Cut(userinfo, ":"); ok && pass != "" {
				msg = strings.ReplaceAll(msg, pass, "REDACTED")
			}
		}
	}
	return msg
}

// firstSeen is the check (see the package comment). KEYS[1] is the key's
// set, KEYS[2] the token's (absent without a token); ARGV: the member, the
// ttl in milliseconds, the key's share and the token's (0: none). It
// answers {1, 0} first seen, {0, 0} seen, {2, wait} or {3, wait} over the
// key's or the token's share, wait being the milliseconds until its first
// proof expires.
//
// Expired members are ignored until the first write, ZADD, and dropped
// after it: Redis checks maxmemory at a script's first write only (a
// script that has written runs to its end), and ZADD is one it refuses
// when out of memory.
var firstSeen = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) > now then
  return {0, 0}
end
local function full(set, share)
  if share > 0 and redis.call('ZCOUNT', set, '(' .. now, '+inf') >= share then
    local first = redis.call('ZRANGEBYSCORE', set, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    return tonumber(first[2]) - now
  end
  return false
end
local wait = full(KEYS[1], tonumber(ARGV[3]))
if wait then
  return {2, wait}
end
if #KEYS > 1 then
  wait = full(KEYS[2], tonumber(ARGV[4]))
  if wait then
    return {3, wait}
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('PTTL', KEYS[i]) < ttl then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return {1, 0}
`)

// FirstSeen implements ports.ReplayCache with one script.
func (c *ReplayCache) FirstSeen(ctx context.Context, k ports.ReplayKey, ttl time.Duration) (bool, error) {
	ms := max(1, (ttl + time.Millisecond - 1).Milliseconds())
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if at := c.settingsAt.Load(); time.Since(time.Unix(0, at)) >= settingsEvery && c.settingsAt.CompareAndSwap(at, time.Now().UnixNano()) {
		if err := c.readSettings(ctx, c.client); err != nil {
			return false, fmt.Errorf("redis: %w", err)
		}
	}
	if err := c.vouch(k); err != nil {
		return false, err
	}
	keys := []string{c.prefix + "k:" + digest(k.JKT)}
	if k.Token != "" {
		keys = append(keys, c.prefix+"t:"+digest(strconv.Itoa(len(k.JKT))+":"+k.JKT+k.Token))
	}
	sum := sha256.Sum256([]byte(k.JTI))
	member := base64.RawURLEncoding.EncodeToString(sum[:16])
	res, err := firstSeen.Run(ctx, c.client, keys, member, ms, c.shares.PerKey, c.shares.PerToken).Int64Slice()
	if err != nil || len(res) != 2 {
		return false, fmt.Errorf("redis: %w: %w", domain.ErrUnavailable, err)
	}
	// A restart noticed while connecting for this very script: the proof
	// is recorded in a Redis that forgot what came before.
	if err := c.vouch(k); err != nil {
		return false, err
	}
	wait := time.Duration(max(res[1], 1)) * time.Millisecond
	switch res[0] {
	case 1:
		return true, nil
	case 0:
		return false, nil
	case 2:
		return false, &domain.ProofError{Reason: domain.ProofKeyShare, RetryAfter: wait, Cause: errors.New("redis: the key's share is full")}
	case 3:
		return false, &domain.ProofError{Reason: domain.ProofTokenShare, RetryAfter: wait, Cause: errors.New("redis: the token's share is full")}
	}
	return false, fmt.Errorf("redis: %w: the script answered %v", domain.ErrUnavailable, res)
}

// vouch returns nil when nothing k could have been recorded in before is
// known to be lost; else the refusal, or the policy problem found last.
func (c *ReplayCache) vouch(k ports.ReplayKey) error {
	c.mu.Lock()
	lost, policyErr := c.lostBefore, c.policyErr
	c.mu.Unlock()
	if policyErr != nil {
		return fmt.Errorf("redis: %w", policyErr)
	}
	if k.ValidFrom.Before(lost) {
		return &domain.ProofError{Reason: domain.ProofStoreRestarted, RetryAfter: lost.Sub(k.ValidFrom),
			Cause: fmt.Errorf("redis: the server (re)started at %s, after the proof could have been used", lost.Format(time.RFC3339))}
	}
	return nil
}

// digest is the base64url SHA-256 of s.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// infoer is what readSettings needs of a client or a connection.
type infoer interface {
	Info(ctx context.Context, section ...string) *goredis.StringCmd
	ConfigGet(ctx context.Context, parameter string) *goredis.MapStringStringCmd
}

// readSettings reads the server's run_id, uptime and eviction policy
// (see the package comment) and keeps what they mean. It returns a
// *PolicyError for a policy that can evict proofs, or one Redis refuses
// to tell; an error wrapping domain.ErrUnavailable when the server does
// not answer (a timeout, a lost connection), which changes nothing kept:
// a Redis slow to answer is unavailable for that one check, not
// misconfigured until the next read.
func (c *ReplayCache) readSettings(ctx context.Context, cn infoer) error {
	server, err := cn.Info(ctx, "server").Result()
	if rerr := goredis.Error(nil); errors.As(err, &rerr) { // refused, not unreachable: a setting to fix
		return &PolicyError{Cause: fmt.Errorf("INFO server: %w", err)}
	}
	if err != nil {
		return fmt.Errorf("%w: INFO server: %w", domain.ErrUnavailable, err)
	}
	runID, uptime := infoField(server, "run_id"), infoField(server, "uptime_in_seconds")
	secs, err := strconv.ParseInt(uptime, 10, 64)
	if runID == "" || err != nil {
		return fmt.Errorf("%w: INFO server has no run_id or uptime_in_seconds", domain.ErrUnavailable)
	}
	policy, perr := c.policy(ctx, cn)
	if perr != nil && !refusedOnly(perr) {
		return fmt.Errorf("%w: reading maxmemory-policy: %w", domain.ErrUnavailable, perr)
	}

	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.settingsAt.Store(now.UnixNano())
	switch {
	case c.runID == "":
		// First contact: it may have restarted just before this process
		// started; it remembers nothing from before its start.
		c.lostBefore = latest(c.lostBefore, now.Add(-time.Duration(secs)*time.Second))
	case c.runID != runID:
		c.lostBefore = latest(c.lostBefore, now)
		if c.log != nil {
			c.log.Warn("redis: the replay store restarted or changed (its run_id changed): DPoP proofs that could have been used before now are refused",
				"uptime_s", secs)
		}
	}
	c.runID = runID
	switch {
	case perr != nil:
		c.policyErr = &PolicyError{Cause: perr}
	case policy != "noeviction":
		c.policyErr = &PolicyError{Policy: policy}
	default:
		c.policyErr = nil
	}
	if c.policyErr != nil {
		return c.policyErr
	}
	return nil
}

// policy returns the server's maxmemory-policy: from INFO memory, else
// (before Redis 3.2) CONFIG GET.
func (c *ReplayCache) policy(ctx context.Context, cn infoer) (string, error) {
	memory, err := cn.Info(ctx, "memory").Result()
	if p := infoField(memory, "maxmemory_policy"); err == nil && p != "" {
		return p, nil
	}
	m, cerr := cn.ConfigGet(ctx, "maxmemory-policy").Result()
	if p := m["maxmemory-policy"]; cerr == nil && p != "" {
		return p, nil
	}
	return "", errors.Join(err, cerr)
}

// refusedOnly says whether every error in err (one, or joined) is an
// answer from Redis (an error reply), not a failure to get one.
func refusedOnly(err error) bool {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if rerr := goredis.Error(nil); e != nil && !errors.As(e, &rerr) {
			return false
		}
	}
	return true
}

// infoField returns the value of field in INFO's answer, "" if absent.
func infoField(info, field string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Check connects and reads the server's settings now: nil when Redis
// answers with a policy that evicts nothing; a *PolicyError when its
// policy can evict used proofs, or cannot be read; an error wrapping
// domain.ErrUnavailable when Redis does not answer. cmd/api refuses to
// start on a *PolicyError.
func (c *ReplayCache) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.readSettings(ctx, c.client); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// readyProbe is written by Ready, to learn whether Redis takes writes.
const readyProbe = "ready"

// Ready implements ports.Readiness: nil when Redis answers, its eviction
// policy keeps every proof, and it takes writes. Otherwise a
// *domain.UnavailableError saying which.
func (c *ReplayCache) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	const store = "the DPoP replay store"
	if err := c.readSettings(ctx, c.client); err != nil {
		var pe *PolicyError
		if errors.As(err, &pe) && pe.Policy != "" {
			return &domain.UnavailableError{What: store + " (Redis's maxmemory-policy " + pe.Policy + " can evict used proofs; it must be noeviction)", Cause: err}
		}
		if errors.As(err, &pe) {
			return &domain.UnavailableError{What: store + " (Redis's maxmemory-policy cannot be read)", Cause: err}
		}
		return &domain.UnavailableError{What: store, Cause: fmt.Errorf("redis: %w", err)}
	}
	// Full: Redis refuses every write while the memory it counts is over
	// maxmemory, this probe as a proof's.
	err := c.client.Set(ctx, c.prefix+readyProbe, "1", time.Second).Err()
	switch {
	case err != nil && strings.HasPrefix(err.Error(), "OOM "):
		return &domain.UnavailableError{What: store + " (Redis is out of memory and refuses writes: maxmemory reached)", Cause: err}
	case err != nil:
		return &domain.UnavailableError{What: store, Cause: fmt.Errorf("redis: %w", err)}
	}
	return nil
}
