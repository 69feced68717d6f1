package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/limitertest"
)

func TestFailureLimiterContract(t *testing.T) {
	limitertest.Run(t, func(_ *testing.T, limit domain.FailureLimit, now func() time.Time) ports.FailureLimiter {
		return memory.NewFailureLimiter(limit, memory.DefaultFailureLimiterSize, now)
	})
}

// An attacker with many addresses, each failing once, never pushes a
// blocked client out of the table, even a table of one set: every one of
// them holds less state than the blocked client.
func TestFailureLimiterKeepsBlockedClientsUnderAFloodOfNewOnes(t *testing.T) {
	ctx := context.Background()
	clk := limitertest.NewClock()
	limit := domain.FailureLimit{Failures: 5, Window: 5 * time.Second}
	l := memory.NewFailureLimiter(limit, 8, clk.Now)
	for range limit.Failures {
		l.Failed(ctx, "203.0.113.7")
	}
	for i := range 100_000 {
		l.Failed(ctx, fmt.Sprintf("198.51.%d.%d", i/256, i%256))
	}
	if got := l.Blocked(ctx, "203.0.113.7"); got != time.Second {
		t.Fatalf("blocked client after 100,000 other clients failed once: Blocked got %v, want 1s", got)
	}
}

// When every entry of a set holds a blocked client, a new client is not
// tracked (fail open for it) rather than forgiving one of them; once they
// have waited out their block, the new client is tracked again.
func TestFailureLimiterFullOfBlockedClients(t *testing.T) {
	ctx := context.Background()
	clk := limitertest.NewClock()
	limit := domain.FailureLimit{Failures: 3, Window: 3 * time.Second}
	l := memory.NewFailureLimiter(limit, 8, clk.Now) // one set of 8
	for c := range 8 {
		for range limit.Failures {
			l.Failed(ctx, fmt.Sprint("blocked-", c))
		}
	}
	for range 10 {
		if got := l.Failed(ctx, "newcomer"); got != 0 {
			t.Fatalf("newcomer in a set full of blocked clients: Failed got %v, want 0 (not tracked)", got)
		}
	}
	for c := range 8 {
		if got := l.Blocked(ctx, fmt.Sprint("blocked-", c)); got != time.Second {
			t.Fatalf("blocked-%d after the newcomer's failures: Blocked got %v, want 1s", c, got)
		}
	}
	// Two intervals later each blocked client has less than one interval
	// of state left: the newcomer displaces one and is counted.
	clk.Add(2*time.Second + time.Millisecond)
	for range limit.Failures - 1 {
		if got := l.Failed(ctx, "newcomer"); got != 0 {
			t.Fatalf("newcomer later: Failed got %v, want 0", got)
		}
	}
	if got := l.Failed(ctx, "newcomer"); got != time.Second {
		t.Fatalf("newcomer's last failure: got %v, want 1s (blocked)", got)
	}
}

// The table is allocated once: clients failing allocate nothing.
func TestFailureLimiterDoesNotGrow(t *testing.T) {
	ctx := context.Background()
	l := memory.NewFailureLimiter(domain.FailureLimit{Failures: 20, Window: time.Minute}, memory.DefaultFailureLimiterSize, nil)
	clients := make([]string, 1<<17)
	for i := range clients {
		clients[i] = fmt.Sprintf("2001:db8:%x:%x::/64", i>>16, i&0xffff)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, c := range clients {
		l.Failed(ctx, c)
		l.Blocked(ctx, c)
	}
	runtime.ReadMemStats(&after)
	if got := after.Mallocs - before.Mallocs; got > 100 { // the runtime's own, if any
		t.Fatalf("%d clients failing: %d allocations, want none", len(clients), got)
	}
}

func BenchmarkFailureLimiterBlocked(b *testing.B) {
	ctx := context.Background()
	l := memory.NewFailureLimiter(domain.FailureLimit{Failures: 60, Window: time.Minute}, memory.DefaultFailureLimiterSize, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Blocked(ctx, "203.0.113.7")
		}
	})
}
