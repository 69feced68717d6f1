// Package redis keeps replay-cache keys in Redis (ports.ReplayCache), so
// that every API instance using the same Redis refuses a DPoP proof that
// any of them has accepted. One atomic command per check:
//
//	SET <prefix><base64url(SHA-256(key))> 1 NX PX <ttl in ms>
//
// "OK" means first seen; a nil reply means seen before. Keys are
// namespaced by a prefix and hashed, so their length is fixed and what
// clients sent never reaches Redis. Every call is bounded by a timeout and
// never retried (a retried SET NX whose first reply was lost would answer
// "seen before"); when Redis cannot answer, FirstSeen returns an error
// wrapping domain.ErrUnavailable, never "first seen".
package redis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	// Log, when set, receives go-redis's own messages (failed dials and
	// the like) as warnings, instead of go-redis writing plain lines to
	// stderr. go-redis has one logger per process: the last New with a Log
	// sets it.
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
}

// New returns a cache using cfg.URL and a cleanup that closes its
// connections. It does not connect: it starts while Redis is down, and each
// check connects as needed. A bad cfg is an error saying what is wrong,
// without the URL's password.
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
	opts.MaxRetries = -1 // never resend a SET NX
	opts.DialerRetries = 1
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.PoolTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	c := &ReplayCache{client: goredis.NewClient(opts), prefix: cfg.Prefix, timeout: cfg.Timeout}
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

// FirstSeen implements ports.ReplayCache with one SET NX PX.
func (c *ReplayCache) FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ms := max(1, (ttl + time.Millisecond - 1).Milliseconds())
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := c.client.Do(ctx, "SET", c.key(key), "1", "NX", "PX", ms).Err()
	switch {
	case err == nil: // "OK"
		return true, nil
	case errors.Is(err, goredis.Nil):
		return false, nil
	}
	return false, fmt.Errorf("redis: %w: %w", domain.ErrUnavailable, err)
}

// key returns the Redis key for key: the prefix and the key's SHA-256.
func (c *ReplayCache) key(key string) string {
	sum := sha256.Sum256([]byte(key))
	return c.prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Ready implements ports.Readiness: nil when Redis answers PING.
func (c *ReplayCache) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w: %w", domain.ErrUnavailable, err)
	}
	return nil
}
