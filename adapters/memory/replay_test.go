package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/replaytest"
)

func TestReplayCacheContract(t *testing.T) {
	replaytest.Run(t, func(*testing.T) ports.ReplayCache {
		return memory.NewReplayCache(memory.DefaultReplayCacheSize, nil)
	})
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// At the bound, a cache full of keys that have not expired refuses new keys
// (ErrUnavailable) and still refuses every key it holds: nothing is evicted
// to make room, so no replay gets through, and it does not grow.
func TestReplayCacheFailsClosedAtTheBound(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	const size = 64 * 4 // 4 keys per shard
	c := memory.NewReplayCache(size, clk.Now)

	var accepted []string
	refused := 0
	for i := range 10 * size { // a flood of distinct keys
		key := fmt.Sprintf("flood-%d", i)
		ok, err := c.FirstSeen(ctx, key, time.Minute)
		switch {
		case err == nil && ok:
			accepted = append(accepted, key)
		case errors.Is(err, domain.ErrUnavailable):
			refused++
		default:
			t.Fatalf("FirstSeen(%s): got %v, %v; want true or an ErrUnavailable error", key, ok, err)
		}
	}
	if len(accepted) > size || c.Len() > size {
		t.Fatalf("accepted %d keys and holds %d; want at most the bound %d", len(accepted), c.Len(), size)
	}
	if refused == 0 {
		t.Fatal("a flood ten times the bound: got no refusal, want ErrUnavailable once full")
	}
	for _, key := range accepted { // every accepted key is still refused as a replay
		if ok, err := c.FirstSeen(ctx, key, time.Minute); ok || err != nil {
			t.Fatalf("replay of %s at the bound: got %v, %v; want false, nil", key, ok, err)
		}
	}

	// Once the keys expire, there is room again: as many keys fit as before.
	clk.Add(time.Minute + time.Second)
	for _, key := range accepted {
		if ok, err := c.FirstSeen(ctx, key, time.Minute); !ok || err != nil {
			t.Fatalf("FirstSeen(%s) after the old keys expired: got %v, %v; want true, nil", key, ok, err)
		}
	}
	if c.Len() > size {
		t.Fatalf("holds %d keys, more than the bound %d", c.Len(), size)
	}
}

// Expired keys are dropped as time goes by, not only at the bound.
func TestReplayCacheDropsExpiredKeys(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := memory.NewReplayCache(memory.DefaultReplayCacheSize, clk.Now)
	for i := range 10_000 {
		if ok, err := c.FirstSeen(ctx, fmt.Sprintf("k%d", i), 30*time.Second); !ok || err != nil {
			t.Fatalf("FirstSeen: got %v, %v", ok, err)
		}
	}
	clk.Add(time.Minute)
	for i := range 10_000 { // touches every shard, past its sweep interval
		if ok, err := c.FirstSeen(ctx, fmt.Sprintf("new%d", i), time.Hour); !ok || err != nil {
			t.Fatalf("FirstSeen: got %v, %v", ok, err)
		}
	}
	if n := c.Len(); n != 10_000 {
		t.Fatalf("holds %d keys after the first 10,000 expired and 10,000 came; want 10000", n)
	}
	// The expired ones are new again; the live ones are not.
	if ok, err := c.FirstSeen(ctx, "k1", time.Minute); !ok || err != nil {
		t.Fatalf("expired key k1: got %v, %v; want true, nil", ok, err)
	}
	if ok, err := c.FirstSeen(ctx, "new1", time.Minute); ok || err != nil {
		t.Fatalf("live key new1: got %v, %v; want false, nil", ok, err)
	}
}

func TestReplayCacheExpiryBoundaryOnItsClock(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := memory.NewReplayCache(1000, clk.Now)
	if ok, err := c.FirstSeen(ctx, "k", 10*time.Second); !ok || err != nil {
		t.Fatalf("first: got %v, %v; want true, nil", ok, err)
	}
	clk.Add(10*time.Second - time.Nanosecond)
	if ok, err := c.FirstSeen(ctx, "k", 10*time.Second); ok || err != nil {
		t.Fatalf("1ns before the ttl: got %v, %v; want false, nil", ok, err)
	}
	clk.Add(time.Nanosecond)
	if ok, err := c.FirstSeen(ctx, "k", 10*time.Second); !ok || err != nil {
		t.Fatalf("at the ttl: got %v, %v; want true, nil", ok, err)
	}
}

func BenchmarkReplayCacheFirstSeen(b *testing.B) {
	ctx := context.Background()
	c := memory.NewReplayCache(memory.DefaultReplayCacheSize, nil)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("thumbprint-of-the-key-43-characters-long.... jti-%d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.FirstSeen(ctx, keys[i&(len(keys)-1)], time.Minute); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
