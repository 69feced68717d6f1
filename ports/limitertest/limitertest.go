// Package limitertest is the contract every ports.FailureLimiter passes.
// Run it from the implementation's tests:
//
//	limitertest.Run(t, func(t *testing.T, limit domain.FailureLimit, now func() time.Time) ports.FailureLimiter {
//		return newLimiter(t, limit, now)
//	})
//
// newLimiter returns a limiter for limit that reads the time from now and
// holds no state for any client (give shared stores a fresh key prefix per
// call). The clock is the suite's: it starts on a whole second and moves
// in whole milliseconds, never back, and never sleeps.
package limitertest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Clock is the suite's settable clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// NewClock returns a clock at a fixed whole second.
func NewClock() *Clock { return &Clock{now: time.Unix(1_700_000_000, 0)} }

// Run runs the contract against limiters from newLimiter.
func Run(t *testing.T, newLimiter func(t *testing.T, limit domain.FailureLimit, now func() time.Time) ports.FailureLimiter) {
	t.Helper()
	ctx := context.Background()
	// Four failures in a row, then one every 500 ms.
	limit := domain.FailureLimit{Failures: 4, Window: 2 * time.Second}
	const interval = 500 * time.Millisecond

	setup := func(t *testing.T) (ports.FailureLimiter, *Clock) {
		clk := NewClock()
		return newLimiter(t, limit, clk.Now), clk
	}
	failed := func(t *testing.T, l ports.FailureLimiter, client string, want time.Duration) {
		t.Helper()
		if got := l.Failed(ctx, client); got != want {
			t.Fatalf("Failed(%.30q): got %v, want %v", client, got, want)
		}
	}
	blocked := func(t *testing.T, l ports.FailureLimiter, client string, want time.Duration) {
		t.Helper()
		if got := l.Blocked(ctx, client); got != want {
			t.Fatalf("Blocked(%.30q): got %v, want %v", client, got, want)
		}
	}
	// exhaust records limit.Failures failures of client at one instant.
	exhaust := func(t *testing.T, l ports.FailureLimiter, client string) {
		t.Helper()
		for range limit.Failures - 1 {
			failed(t, l, client, 0)
		}
		failed(t, l, client, interval)
	}

	t.Run("a new client is not blocked", func(t *testing.T) {
		l, _ := setup(t)
		blocked(t, l, "203.0.113.7", 0)
	})

	t.Run("blocked after Failures failures, for one Interval", func(t *testing.T) {
		l, clk := setup(t)
		blocked(t, l, "203.0.113.7", 0)
		exhaust(t, l, "203.0.113.7")
		blocked(t, l, "203.0.113.7", interval)
		clk.Add(200 * time.Millisecond)
		blocked(t, l, "203.0.113.7", 300*time.Millisecond)
		clk.Add(300 * time.Millisecond)
		blocked(t, l, "203.0.113.7", 0)
		// One failure came back, and is taken at once.
		failed(t, l, "203.0.113.7", interval)
		blocked(t, l, "203.0.113.7", interval)
		// After a whole window the bucket is full again.
		clk.Add(limit.Window)
		blocked(t, l, "203.0.113.7", 0)
		exhaust(t, l, "203.0.113.7")
	})

	t.Run("each Interval gives one failure back", func(t *testing.T) {
		l, clk := setup(t)
		exhaust(t, l, "198.51.100.1")
		clk.Add(2 * interval)
		failed(t, l, "198.51.100.1", 0)
		failed(t, l, "198.51.100.1", interval)
		clk.Add(interval - time.Millisecond)
		blocked(t, l, "198.51.100.1", time.Millisecond)
	})

	t.Run("failures while blocked do not deepen the block", func(t *testing.T) {
		l, clk := setup(t)
		exhaust(t, l, "2001:db8:1:2::/64")
		for range 20 {
			failed(t, l, "2001:db8:1:2::/64", interval)
		}
		clk.Add(interval)
		blocked(t, l, "2001:db8:1:2::/64", 0)
	})

	t.Run("Blocked counts nothing", func(t *testing.T) {
		l, _ := setup(t)
		for range 100 {
			blocked(t, l, "203.0.113.9", 0)
		}
		exhaust(t, l, "203.0.113.9")
	})

	t.Run("clients are independent and exact", func(t *testing.T) {
		l, clk := setup(t)
		exhaust(t, l, "203.0.113.7")
		others := []string{"203.0.113.70", "203.0.113.", "203.0.113.7 ", "::ffff:203.0.113.7", "2001:db8::/64",
			"2001:db8:0:1::/64", strings.Repeat("x", 10_000), "ключ"}
		for _, c := range others {
			blocked(t, l, c, 0)
		}
		// The others' failures, below the limit, change nothing for anyone.
		for _, c := range others {
			for range limit.Failures - 1 {
				failed(t, l, c, 0)
			}
		}
		blocked(t, l, "203.0.113.7", interval)
		for _, c := range others {
			failed(t, l, c, interval)
		}
		clk.Add(interval)
		blocked(t, l, "203.0.113.7", 0)
	})

	t.Run("a long idle client starts afresh", func(t *testing.T) {
		l, clk := setup(t)
		exhaust(t, l, "192.0.2.1")
		clk.Add(24 * time.Hour)
		blocked(t, l, "192.0.2.1", 0)
		exhaust(t, l, "192.0.2.1")
	})

	t.Run("concurrent failures: exactly Failures-1 pass unblocked", func(t *testing.T) {
		clk := NewClock()
		wide := domain.FailureLimit{Failures: 50, Window: time.Minute}
		l := newLimiter(t, wide, clk.Now)
		const goroutines, each = 16, 10
		var free, over atomic.Int32
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range each {
					switch l.Failed(ctx, "203.0.113.50") {
					case 0:
						free.Add(1)
					case wide.Interval():
						over.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if got, want := free.Load(), int32(wide.Failures-1); got != want {
			t.Errorf("concurrent Failed calls answered 0: got %d, want %d (Failures-1)", got, want)
		}
		if got, want := over.Load(), int32(goroutines*each-wide.Failures+1); got != want {
			t.Errorf("concurrent Failed calls answered one Interval: got %d, want %d", got, want)
		}
		if got := l.Blocked(ctx, "203.0.113.50"); got != wide.Interval() {
			t.Errorf("Blocked after them: got %v, want %v", got, wide.Interval())
		}
	})
}
