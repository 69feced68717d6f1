package memory_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/replaytest"
)

func TestReplayCacheContract(t *testing.T) {
	replaytest.Run(t, func(_ *testing.T, s ports.ReplayShares) ports.ReplayCache {
		return memory.NewReplayCache(memory.DefaultReplayCacheSize, s, nil)
	})
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// proof is the replay key of proof i by key jkt with token.
func proof(jkt, token string, i int) ports.ReplayKey {
	return ports.ReplayKey{JKT: jkt, Token: token, JTI: fmt.Sprintf("jti-%d", i)}
}

// The production bounds (DefaultReplayCacheSize, and the shares cmd/api
// gives by default): one client with one key and one token sending proofs
// as fast as it can, far past its share, is refused alone; every other
// client's proofs are recorded, and its own held proofs are still refused
// as seen.
func TestReplayCacheOneKeyFloodingIsRefusedAlone(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	shares := ports.ReplayShares{PerKey: 1 << 16, PerToken: 1 << 15}
	c := memory.NewReplayCache(memory.DefaultReplayCacheSize, shares, clk.Now)

	recorded, refused := 0, 0
	for i := range 100_000 {
		ok, err := c.FirstSeen(ctx, proof("attacker", "attacker's token", i), 330*time.Second)
		var pe *domain.ProofError
		switch {
		case ok:
			recorded++
		case errors.As(err, &pe) && pe.Reason == domain.ProofTokenShare && pe.RetryAfter == 330*time.Second:
			refused++
		default:
			t.Fatalf("flood proof %d: got %v, %v; want true or dpop_too_many_for_token with RetryAfter 330s", i, ok, err)
		}
	}
	if recorded != 1<<15 || refused != 100_000-1<<15 {
		t.Fatalf("100,000 proofs with one token: %d recorded, %d refused; want the share, %d, and the rest", recorded, refused, 1<<15)
	}
	// The attacker's key with ten more tokens: up to the key's share.
	recorded = 0
	for i := range 40_000 {
		ok, err := c.FirstSeen(ctx, proof("attacker", fmt.Sprint("attacker's token #", i%10), 100_000+i), 330*time.Second)
		var pe *domain.ProofError
		switch {
		case ok:
			recorded++
		case errors.As(err, &pe) && pe.Reason == domain.ProofKeyShare:
		default:
			t.Fatalf("more tokens' proof %d: got %v, %v; want true or dpop_too_many_for_key", i, ok, err)
		}
	}
	if recorded != 1<<16-1<<15 {
		t.Fatalf("the key's other tokens: %d recorded, want %d (the key's share less the first token's)", recorded, 1<<16-1<<15)
	}
	if ok, err := c.FirstSeen(ctx, proof("attacker", "attacker's token", 7), 330*time.Second); ok || err != nil {
		t.Fatalf("a held proof of the attacker: got %v, %v; want false, nil (seen)", ok, err)
	}
	// Everybody else: 2,000 clients, a few proofs each.
	for k := range 2000 {
		for i := range 5 {
			if ok, err := c.FirstSeen(ctx, proof(fmt.Sprint("client-", k), fmt.Sprint("token-", k), i), 330*time.Second); !ok || err != nil {
				t.Fatalf("client %d's proof %d during the flood: got %v, %v; want true, nil", k, i, ok, err)
			}
		}
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

// At the size, a cache full of proofs that have not expired refuses new
// ones (ErrUnavailable), says so in Ready, and still refuses every proof
// it holds: nothing is evicted to make room, so no replay gets through,
// and it does not grow.
func TestReplayCacheFailsClosedAtItsSize(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	const size = 64 * 4
	c := memory.NewReplayCache(size, ports.ReplayShares{}, clk.Now)

	var accepted []ports.ReplayKey
	refused := 0
	for i := range 10 * size { // a flood of distinct keys
		k := proof(fmt.Sprint("key-", i), "", i)
		ok, err := c.FirstSeen(ctx, k, time.Minute)
		switch {
		case err == nil && ok:
			accepted = append(accepted, k)
		case errors.Is(err, domain.ErrUnavailable):
			refused++
		default:
			t.Fatalf("FirstSeen(%s): got %v, %v; want true or an ErrUnavailable error", k.JKT, ok, err)
		}
	}
	if len(accepted) != size || c.Len() != size || refused != 9*size {
		t.Fatalf("accepted %d, refused %d, holds %d; want exactly the size %d accepted and held", len(accepted), refused, c.Len(), size)
	}
	var unavailable *domain.UnavailableError
	if err := c.Ready(ctx); !errors.As(err, &unavailable) || unavailable.What != "the DPoP replay store (full: it holds the most proofs it may, none expired yet)" {
		t.Fatalf("Ready when full: got %v, want an UnavailableError saying it is full", err)
	}
	for _, k := range accepted { // every accepted proof is still refused as a replay
		if ok, err := c.FirstSeen(ctx, k, time.Minute); ok || err != nil {
			t.Fatalf("replay of %s at the size: got %v, %v; want false, nil", k.JKT, ok, err)
		}
	}

	// Once the proofs expire, there is room again: as many fit as before.
	clk.Add(time.Minute + time.Second)
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready once the proofs expired: %v", err)
	}
	for _, k := range accepted {
		if ok, err := c.FirstSeen(ctx, k, time.Minute); !ok || err != nil {
			t.Fatalf("FirstSeen(%s) after the old proofs expired: got %v, %v; want true, nil", k.JKT, ok, err)
		}
	}
	if c.Len() != size {
		t.Fatalf("holds %d proofs, want %d", c.Len(), size)
	}
}

// Expired proofs are dropped as time goes by, not only at the size.
func TestReplayCacheDropsExpiredProofs(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := memory.NewReplayCache(memory.DefaultReplayCacheSize, ports.ReplayShares{}, clk.Now)
	for i := range 10_000 {
		if ok, err := c.FirstSeen(ctx, proof(fmt.Sprint("k", i%500), "", i), 30*time.Second); !ok || err != nil {
			t.Fatalf("FirstSeen: got %v, %v", ok, err)
		}
	}
	clk.Add(time.Minute)
	for i := range 10_000 { // 500 keys: every shard, past its sweep interval
		if ok, err := c.FirstSeen(ctx, proof(fmt.Sprint("k", i%500), "", 10_000+i), time.Hour); !ok || err != nil {
			t.Fatalf("FirstSeen: got %v, %v", ok, err)
		}
	}
	if n := c.Len(); n != 10_000 {
		t.Fatalf("holds %d proofs after the first 10,000 expired and 10,000 came; want 10000", n)
	}
	// The expired ones are new again; the live ones are not.
	if ok, err := c.FirstSeen(ctx, proof("k1", "", 1), time.Minute); !ok || err != nil {
		t.Fatalf("expired proof: got %v, %v; want true, nil", ok, err)
	}
	if ok, err := c.FirstSeen(ctx, proof("k1", "", 10_001), time.Minute); ok || err != nil {
		t.Fatalf("live proof: got %v, %v; want false, nil", ok, err)
	}
}

func TestReplayCacheExpiryBoundaryOnItsClock(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := memory.NewReplayCache(1000, ports.ReplayShares{}, clk.Now)
	k := proof("jkt", "token", 1)
	if ok, err := c.FirstSeen(ctx, k, 10*time.Second); !ok || err != nil {
		t.Fatalf("first: got %v, %v; want true, nil", ok, err)
	}
	clk.Add(10*time.Second - time.Nanosecond)
	if ok, err := c.FirstSeen(ctx, k, 10*time.Second); ok || err != nil {
		t.Fatalf("1ns before the ttl: got %v, %v; want false, nil", ok, err)
	}
	clk.Add(time.Nanosecond)
	if ok, err := c.FirstSeen(ctx, k, 10*time.Second); !ok || err != nil {
		t.Fatalf("at the ttl: got %v, %v; want true, nil", ok, err)
	}
}

// A token at its share gets room back as its proofs expire, with
// RetryAfter saying when the first goes, on the cache's clock.
func TestReplayCacheShareRetryAfter(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := memory.NewReplayCache(1000, ports.ReplayShares{PerKey: 10, PerToken: 3}, clk.Now)
	for i := range 3 {
		if ok, err := c.FirstSeen(ctx, proof("K", "A", i), 60*time.Second); !ok || err != nil {
			t.Fatalf("proof %d: got %v, %v", i, ok, err)
		}
		clk.Add(10 * time.Second)
	}
	// Now +30 s: the first proof expires in 30 s.
	_, err := c.FirstSeen(ctx, proof("K", "A", 3), 60*time.Second)
	var pe *domain.ProofError
	if !errors.As(err, &pe) || pe.Reason != domain.ProofTokenShare || pe.RetryAfter != 30*time.Second {
		t.Fatalf("over the share: got %v (%+v), want dpop_too_many_for_token with RetryAfter 30s", err, pe)
	}
	clk.Add(30 * time.Second)
	if ok, err := c.FirstSeen(ctx, proof("K", "A", 3), 60*time.Second); !ok || err != nil {
		t.Fatalf("once the first expired: got %v, %v; want true, nil", ok, err)
	}
	if _, err := c.FirstSeen(ctx, proof("K", "A", 4), 60*time.Second); !errors.As(err, &pe) || pe.RetryAfter != 10*time.Second {
		t.Fatalf("at the share again: got %v, want RetryAfter 10s (the second proof's expiry)", err)
	}
}

func BenchmarkReplayCacheFirstSeen(b *testing.B) {
	ctx := context.Background()
	c := memory.NewReplayCache(memory.DefaultReplayCacheSize, ports.ReplayShares{PerKey: 1 << 16, PerToken: 1 << 15}, nil)
	keys := make([]ports.ReplayKey, 1<<16)
	for i := range keys {
		keys[i] = ports.ReplayKey{JKT: fmt.Sprintf("thumbprint-of-the-key-43-characters-long-%d", i%256),
			Token: "Mnl3b8sm7r1PuEbw0Jv0CFrvbh8YLNoI6QcDb6O3l0A", JTI: fmt.Sprintf("jti-%d", i)}
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

// BenchmarkReplayCacheFull fills a cache of DefaultReplayCacheSize with
// proofs of 16,384 keys, one token each, and reports the heap it takes:
//
//	go test -run '^$' -bench ReplayCacheFull -benchtime 1x ./adapters/memory/
func BenchmarkReplayCacheFull(b *testing.B) {
	ctx := context.Background()
	var heap uint64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := memory.NewReplayCache(memory.DefaultReplayCacheSize, ports.ReplayShares{PerKey: 1 << 16, PerToken: 1 << 15}, nil)
		for i := range memory.DefaultReplayCacheSize {
			k := ports.ReplayKey{JKT: fmt.Sprint("thumbprint-", i%16384), Token: fmt.Sprint("token-", i%16384), JTI: fmt.Sprint(i)}
			if ok, err := c.FirstSeen(ctx, k, time.Hour); !ok || err != nil {
				b.Fatalf("proof %d: %v %v", i, ok, err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(c)
	}
	b.ReportMetric(float64(heap)/1e6, "heap-MB")
}
