package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.FailureLimiter = (*FailureLimiter)(nil)

// DefaultFailureLimiterSize is how many clients a FailureLimiter tracks at
// once by default. The table takes about 1.1 MB, allocated up front.
const DefaultFailureLimiterSize = 1 << 16

// limiterWays is how many clients share one set of the table.
const limiterWays = 8

// FailureLimiter is the in-process ports.FailureLimiter: a fixed-size
// table, allocated once, that never grows, however many clients fail.
//
// Each client's state is one number, the time its bucket will be full
// again (GCRA's "theoretical arrival time"): a failure moves it one
// Interval later, to at most Window from now, and the client is blocked
// while it is more than Window-Interval ahead. A client whose time has
// passed holds no state at all.
//
// The table is set-associative: a client's set of limiterWays entries is
// chosen by a keyed hash (hash/maphash, seeded at random per process), so
// nobody outside can aim many clients at one set. A new client takes a
// free entry of its set, or one whose time has passed; when there is none,
// it takes the entry with the least time left, if that is less than one
// Interval (what its own failure would hold). So a client's state is only
// ever displaced by a client with more of it: a blocked client (at least
// Window-Interval left) cannot be pushed out by other clients' single
// failures, and forgetting someone costs an attacker as many failures as
// remembering them took. When every entry of a set holds more than one
// Interval, a new client of that set is not tracked (its failures are not
// counted) until one has less: keeping the whole table that full takes
// more than Size failures per Interval (65,536 a second with the defaults,
// more than a server answers), and an attacker with that many addresses
// gets that many checks with or without a table.
//
// Instances behind a load balancer each count on their own: use the Redis
// adapter to share the count.
type FailureLimiter struct {
	sets     []limiterSet
	mask     uint64
	seed     maphash.Seed
	interval int64 // ns per failure
	depth    int64 // the most state a client holds: Failures × interval
	now      func() time.Time
}

type limiterSet struct {
	mu   sync.Mutex
	ways [limiterWays]limiterEntry
}

// limiterEntry is one client: its hash (0: a free entry) and when its
// bucket is full again, in Unix nanoseconds.
type limiterEntry struct {
	tag  uint64
	full int64
}

// NewFailureLimiter returns a limiter for limit (which must not be off)
// tracking at most size clients (rounded up to a power of two, at least
// limiterWays); now is the clock (nil means time.Now).
func NewFailureLimiter(limit domain.FailureLimit, size int, now func() time.Time) *FailureLimiter {
	if limit.Off() {
		panic("memory: NewFailureLimiter: the limit is off")
	}
	if now == nil {
		now = time.Now
	}
	sets := 1
	for sets*limiterWays < size {
		sets *= 2
	}
	interval := limit.Interval()
	return &FailureLimiter{
		sets:     make([]limiterSet, sets),
		mask:     uint64(sets - 1),
		seed:     maphash.MakeSeed(),
		interval: int64(interval),
		depth:    int64(interval) * int64(limit.Failures),
		now:      now,
	}
}

// Blocked implements ports.FailureLimiter.
func (l *FailureLimiter) Blocked(_ context.Context, client string) time.Duration {
	tag, s := l.locate(client)
	s.mu.Lock()
	var full int64
	if i := s.find(tag); i >= 0 {
		full = s.ways[i].full
	}
	s.mu.Unlock()
	if full == 0 {
		return 0 // never failed, or forgotten: no need to read the clock
	}
	return l.wait(full, l.now().UnixNano())
}

// Failed implements ports.FailureLimiter.
func (l *FailureLimiter) Failed(_ context.Context, client string) time.Duration {
	tag, s := l.locate(client)
	now := l.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(tag)
	if i < 0 {
		if i = s.victim(now, now+l.interval); i < 0 {
			return 0 // a set full of clients with more state: not tracked
		}
		s.ways[i] = limiterEntry{tag: tag}
	}
	e := &s.ways[i]
	e.full = min(max(e.full, now)+l.interval, now+l.depth)
	return l.wait(e.full, now)
}

// wait is how long a client whose bucket is full at full is blocked at now.
func (l *FailureLimiter) wait(full, now int64) time.Duration {
	return time.Duration(max(0, full-(l.depth-l.interval)-now))
}

// locate returns client's tag and set.
func (l *FailureLimiter) locate(client string) (uint64, *limiterSet) {
	h := maphash.String(l.seed, client)
	if h == 0 {
		h = 1 // 0 marks a free entry
	}
	return h, &l.sets[h&l.mask]
}

// find returns the index of tag's entry in s, or -1. The caller holds s.mu.
func (s *limiterSet) find(tag uint64) int {
	for i := range s.ways {
		if s.ways[i].tag == tag {
			return i
		}
	}
	return -1
}

// victim returns the entry a new client takes: a free one, one whose time
// has passed, or the one with the least time left if that is before
// limit; -1 when there is none. The caller holds s.mu.
func (s *limiterSet) victim(now, limit int64) int {
	best := -1
	for i := range s.ways {
		e := &s.ways[i]
		if e.tag == 0 || e.full <= now {
			return i
		}
		if e.full < limit && (best < 0 || e.full < s.ways[best].full) {
			best = i
		}
	}
	return best
}
