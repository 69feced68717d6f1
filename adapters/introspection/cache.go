package introspection

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/spaapi/domain"
)

// cache remembers introspection answers by the SHA-256 of the token, so
// an SPA's repeated calls cost one request to the endpoint per CacheTTL.
// It holds at most size entries; when full, an expired entry among the
// first few looked at goes, else any.
type cache struct {
	mu   sync.Mutex
	m    map[[32]byte]entry
	size int

	hits, misses atomic.Uint64
}

type entry struct {
	principal domain.Principal
	inactive  bool      // an "active": false answer
	notBefore time.Time // nbf minus leeway; zero without nbf
	until     time.Time // min(cached + TTL, exp + leeway)
}

// newCache returns a cache of at most size entries, or nil when size is
// not positive.
func newCache(size int) *cache {
	if size <= 0 {
		return nil
	}
	return &cache{m: make(map[[32]byte]entry), size: size}
}

func (c *cache) get(key [32]byte, now time.Time) (entry, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	if ok && !now.Before(e.until) {
		delete(c.m, key)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return entry{}, false
	}
	c.hits.Add(1)
	return e, true
}

func (c *cache) put(key [32]byte, e entry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, exists := c.m[key]; !exists && len(c.m) >= c.size {
		victim, looked := [32]byte{}, 0
		for k, old := range c.m { // map order is random: a random victim
			victim = k
			if !now.Before(old.until) || looked >= 8 {
				break
			}
			looked++
		}
		delete(c.m, victim)
	}
	c.m[key] = e
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// flight runs one introspection per token at a time: requests for a
// token already being asked about wait for that answer.
type flight struct {
	mu    sync.Mutex
	calls map[[32]byte]*call
}

type call struct {
	done chan struct{} // closed when p and err are set
	p    domain.Principal
	err  error
}

// do starts fn for key unless a call for key is under way, and returns
// the call to wait on, and whether it started it.
func (f *flight) do(key [32]byte, fn func() (domain.Principal, error)) (*call, bool) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		return c, false
	}
	if f.calls == nil {
		f.calls = make(map[[32]byte]*call)
	}
	c := &call{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	go func() {
		c.p, c.err = fn()
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	return c, true
}

// slots bounds the introspection requests in flight: a request beyond the
// bound is refused at once rather than queued. Every request to the
// endpoint takes one (tokens and readiness probes alike), so the
// transport's connections to it never need to outnumber the slots.
type slots chan struct{}

func newSlots(n int) slots { return make(slots, n) }

// enter takes a slot if one is free.
func (s slots) enter() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

// leave gives back a slot enter took.
func (s slots) leave() { <-s }
