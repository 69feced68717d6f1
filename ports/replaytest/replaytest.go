// Package replaytest is the contract every ports.ReplayCache passes. Run it
// from the implementation's tests:
//
//	replaytest.Run(t, func(t *testing.T) ports.ReplayCache { return newCache(t) })
//
// newCache returns a cache that holds none of the keys used here (give
// shared stores a fresh key prefix per call). Expiry is tested on the wall
// clock with short ttls, since a shared store keeps its own time.
package replaytest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/ports"
)

// Run runs the contract against caches from newCache.
func Run(t *testing.T, newCache func(t *testing.T) ports.ReplayCache) {
	t.Helper()
	ctx := context.Background()

	first := func(t *testing.T, c ports.ReplayCache, key string, ttl time.Duration) bool {
		t.Helper()
		ok, err := c.FirstSeen(ctx, key, ttl)
		if err != nil {
			t.Fatalf("FirstSeen(%.40q): %v", key, err)
		}
		return ok
	}

	t.Run("ready", func(t *testing.T) {
		if err := newCache(t).Ready(ctx); err != nil {
			t.Fatalf("Ready: %v", err)
		}
	})

	t.Run("first time true, then false", func(t *testing.T) {
		c := newCache(t)
		if !first(t, c, "jkt jti-1", time.Minute) {
			t.Fatal("first FirstSeen: got false, want true")
		}
		for i := range 3 {
			if first(t, c, "jkt jti-1", time.Minute) {
				t.Fatalf("FirstSeen again (#%d): got true, want false", i+1)
			}
		}
	})

	t.Run("keys are independent and exact", func(t *testing.T) {
		c := newCache(t)
		keys := []string{"a", "A", "a ", "b", "", "\x00", strings.Repeat("x", 10_000), strings.Repeat("x", 10_001), "ключ"}
		for _, k := range keys {
			if !first(t, c, k, time.Minute) {
				t.Fatalf("FirstSeen(%.20q) among distinct keys: got false, want true", k)
			}
		}
		for _, k := range keys {
			if first(t, c, k, time.Minute) {
				t.Fatalf("FirstSeen(%.20q) again: got true, want false", k)
			}
		}
	})

	t.Run("a key is new again after its ttl", func(t *testing.T) {
		c := newCache(t)
		if !first(t, c, "short", 100*time.Millisecond) || !first(t, c, "long", time.Minute) {
			t.Fatal("first FirstSeen: got false, want true")
		}
		if first(t, c, "short", 100*time.Millisecond) {
			t.Fatal("FirstSeen within the ttl: got true, want false")
		}
		time.Sleep(400 * time.Millisecond)
		if !first(t, c, "short", time.Minute) {
			t.Fatal("FirstSeen after the ttl: got false, want true")
		}
		if first(t, c, "short", time.Minute) {
			t.Fatal("FirstSeen after recording it again: got true, want false")
		}
		if first(t, c, "long", time.Minute) {
			t.Fatal("FirstSeen of a key whose ttl has not passed: got true, want false")
		}
	})

	t.Run("ttl rounds up to at least a millisecond", func(t *testing.T) {
		c := newCache(t)
		for _, ttl := range []time.Duration{0, -time.Second, time.Nanosecond} {
			key := fmt.Sprintf("tiny-%d", ttl)
			if !first(t, c, key, ttl) {
				t.Fatalf("FirstSeen with ttl %v: got false, want true", ttl)
			}
		}
		time.Sleep(50 * time.Millisecond)
		for _, ttl := range []time.Duration{0, -time.Second, time.Nanosecond} {
			if !first(t, c, fmt.Sprintf("tiny-%d", ttl), time.Minute) {
				t.Fatalf("FirstSeen 50ms after a ttl of %v: got false, want true", ttl)
			}
		}
	})

	t.Run("concurrent calls: exactly one first", func(t *testing.T) {
		c := newCache(t)
		const goroutines, keys = 16, 50
		var wins [keys]atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for range goroutines {
			wg.Go(func() {
				for k := range keys {
					ok, err := c.FirstSeen(ctx, fmt.Sprintf("race-%d", k), time.Minute)
					if err != nil {
						errs <- err
						return
					}
					if ok {
						wins[k].Add(1)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("FirstSeen: %v", err)
		}
		for k := range keys {
			if n := wins[k].Load(); n != 1 {
				t.Errorf("key %d: %d of %d concurrent calls got true, want exactly 1", k, n, goroutines)
			}
		}
	})
}
