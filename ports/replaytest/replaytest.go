// Package replaytest is the contract every ports.ReplayCache passes. Run it
// from the implementation's tests:
//
//	replaytest.Run(t, func(t *testing.T, s ports.ReplayShares) ports.ReplayCache { return newCache(t, s) })
//
// newCache returns a cache with the shares s that holds none of the keys
// used here (give shared stores a fresh key prefix per call). Expiry is
// tested on the wall clock with short ttls, since a shared store keeps its
// own time.
package replaytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// wide are shares no test but the shares' own comes near.
var wide = ports.ReplayShares{PerKey: 1 << 16, PerToken: 1 << 16}

// Leeway is how long before now the contract's keys could have been
// accepted (a verifier's default DPoP_IAT_LEEWAY): a cache that forgets
// what it held when restarted must have been up at least this long to
// vouch for them.
const Leeway = 30 * time.Second

// Run runs the contract against caches from newCache.
func Run(t *testing.T, newCache func(t *testing.T, s ports.ReplayShares) ports.ReplayCache) {
	t.Helper()
	ctx := context.Background()

	// key is a proof's key as the DPoP verifier gives it: made now.
	key := func(jkt, token, jti string) ports.ReplayKey {
		return ports.ReplayKey{JKT: jkt, Token: token, JTI: jti, ValidFrom: time.Now().Add(-Leeway)}
	}
	first := func(t *testing.T, c ports.ReplayCache, k ports.ReplayKey, ttl time.Duration) bool {
		t.Helper()
		ok, err := c.FirstSeen(ctx, k, ttl)
		if err != nil {
			t.Fatalf("FirstSeen(%.40q, %.40q, %.40q): %v", k.JKT, k.Token, k.JTI, err)
		}
		return ok
	}
	// overShare checks that FirstSeen refuses k with reason, a RetryAfter
	// of more than 0 and at most most.
	overShare := func(t *testing.T, c ports.ReplayCache, k ports.ReplayKey, ttl time.Duration, reason domain.ProofReason, most time.Duration) {
		t.Helper()
		ok, err := c.FirstSeen(ctx, k, ttl)
		var pe *domain.ProofError
		if ok || !errors.As(err, &pe) || pe.Reason != reason || !errors.Is(err, domain.ErrQuotaExceeded) {
			t.Fatalf("FirstSeen(%q, %q, %q) over a share: got %v, %v; want false and a %s error", k.JKT, k.Token, k.JTI, ok, err, reason)
		}
		if pe.RetryAfter <= 0 || pe.RetryAfter > most {
			t.Fatalf("%s: RetryAfter %v, want more than 0 and at most %v", reason, pe.RetryAfter, most)
		}
	}

	t.Run("ready", func(t *testing.T) {
		if err := newCache(t, wide).Ready(ctx); err != nil {
			t.Fatalf("Ready: %v", err)
		}
	})

	t.Run("first time true, then false", func(t *testing.T) {
		c := newCache(t, wide)
		if !first(t, c, key("jkt", "token", "jti-1"), time.Minute) {
			t.Fatal("first FirstSeen: got false, want true")
		}
		for i := range 3 {
			if first(t, c, key("jkt", "token", "jti-1"), time.Minute) {
				t.Fatalf("FirstSeen again (#%d): got true, want false", i+1)
			}
		}
		// A proof is its key and jti: with another token it is the same.
		if first(t, c, key("jkt", "another token", "jti-1"), time.Minute) || first(t, c, key("jkt", "", "jti-1"), time.Minute) {
			t.Fatal("the same key and jti with another token: got true, want false")
		}
	})

	t.Run("keys are independent and exact", func(t *testing.T) {
		c := newCache(t, wide)
		strs := []string{"a", "A", "a ", "b", "", "\x00", strings.Repeat("x", 10_000), strings.Repeat("x", 10_001), "ключ"}
		var keys []ports.ReplayKey
		for _, s := range strs {
			keys = append(keys, key("jkt", "token", s), key(s, "token", "jti"))
		}
		keys = append(keys, key("jkt a", "token", ""), key("jkt", "token", "a jti"), key("jkt\x00", "token", "jti"), key("jkt", "token", "\x00jti"))
		for _, k := range keys {
			if !first(t, c, k, time.Minute) {
				t.Fatalf("FirstSeen(%.20q, %.20q) among distinct keys: got false, want true", k.JKT, k.JTI)
			}
		}
		for _, k := range keys {
			if first(t, c, k, time.Minute) {
				t.Fatalf("FirstSeen(%.20q, %.20q) again: got true, want false", k.JKT, k.JTI)
			}
		}
	})

	t.Run("a key is new again after its ttl", func(t *testing.T) {
		c := newCache(t, wide)
		short, long := key("jkt", "token", "short"), key("jkt", "token", "long")
		if !first(t, c, short, 100*time.Millisecond) || !first(t, c, long, time.Minute) {
			t.Fatal("first FirstSeen: got false, want true")
		}
		if first(t, c, short, 100*time.Millisecond) {
			t.Fatal("FirstSeen within the ttl: got true, want false")
		}
		time.Sleep(400 * time.Millisecond)
		if !first(t, c, short, time.Minute) {
			t.Fatal("FirstSeen after the ttl: got false, want true")
		}
		if first(t, c, short, time.Minute) {
			t.Fatal("FirstSeen after recording it again: got true, want false")
		}
		if first(t, c, long, time.Minute) {
			t.Fatal("FirstSeen of a key whose ttl has not passed: got true, want false")
		}
	})

	t.Run("ttl rounds up to at least a millisecond", func(t *testing.T) {
		c := newCache(t, wide)
		for _, ttl := range []time.Duration{0, -time.Second, time.Nanosecond} {
			if !first(t, c, key("jkt", "token", fmt.Sprintf("tiny-%d", ttl)), ttl) {
				t.Fatalf("FirstSeen with ttl %v: got false, want true", ttl)
			}
		}
		time.Sleep(50 * time.Millisecond)
		for _, ttl := range []time.Duration{0, -time.Second, time.Nanosecond} {
			if !first(t, c, key("jkt", "token", fmt.Sprintf("tiny-%d", ttl)), time.Minute) {
				t.Fatalf("FirstSeen 50ms after a ttl of %v: got false, want true", ttl)
			}
		}
	})

	t.Run("concurrent calls: exactly one first", func(t *testing.T) {
		c := newCache(t, wide)
		const goroutines, keys = 16, 50
		var wins [keys]atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for range goroutines {
			wg.Go(func() {
				for k := range keys {
					ok, err := c.FirstSeen(ctx, key("jkt", "token", fmt.Sprintf("race-%d", k)), time.Minute)
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

	// A token over its share, then a key over its: only their own new
	// proofs are refused; proofs they hold are still refused as seen; other
	// keys and tokens go on.
	t.Run("shares: only the owner over its share is refused", func(t *testing.T) {
		c := newCache(t, ports.ReplayShares{PerKey: 8, PerToken: 3})
		for i := range 3 {
			if !first(t, c, key("K", "A", fmt.Sprint("a", i)), time.Minute) {
				t.Fatalf("token A's proof %d of 3: got false, want true", i+1)
			}
		}
		overShare(t, c, key("K", "A", "a3"), time.Minute, domain.ProofTokenShare, time.Minute)
		if first(t, c, key("K", "A", "a0"), time.Minute) {
			t.Fatal("a held proof of a token over its share: got true, want false (seen)")
		}
		// The same key's other tokens, up to the key's share of 8.
		for i, tok := range []string{"B", "B", "B", "C", "C"} {
			if !first(t, c, key("K", tok, fmt.Sprint("b", i)), time.Minute) {
				t.Fatalf("token %s's proof (key K's %d of 8): got false, want true", tok, i+4)
			}
		}
		overShare(t, c, key("K", "C", "c9"), time.Minute, domain.ProofKeyShare, time.Minute)
		overShare(t, c, key("K", "D", "d0"), time.Minute, domain.ProofKeyShare, time.Minute)
		overShare(t, c, key("K", "", "e0"), time.Minute, domain.ProofKeyShare, time.Minute)
		// Other keys, with or without tokens, are not affected.
		for i := range 3 {
			for _, k := range []ports.ReplayKey{key("K2", "A", fmt.Sprint("a", i)), key("K3", "", fmt.Sprint("z", i))} {
				if !first(t, c, k, time.Minute) {
					t.Fatalf("another key (%s) while K is over its share: got false, want true", k.JKT)
				}
			}
		}
		// Without a token (a token endpoint), only the key's share counts.
		for i := range 8 {
			if !first(t, c, key("K4", "", fmt.Sprint("n", i)), time.Minute) {
				t.Fatalf("tokenless proof %d of 8: got false, want true", i+1)
			}
		}
		overShare(t, c, key("K4", "", "n8"), time.Minute, domain.ProofKeyShare, time.Minute)
	})

	t.Run("shares: room again once the owner's keys expire", func(t *testing.T) {
		c := newCache(t, ports.ReplayShares{PerKey: 4, PerToken: 2})
		const ttl = 200 * time.Millisecond
		for _, k := range []ports.ReplayKey{key("K", "A", "a0"), key("K", "A", "a1")} {
			if !first(t, c, k, ttl) {
				t.Fatalf("token A's proof %s: got false, want true", k.JTI)
			}
		}
		if !first(t, c, key("K", "B", "b0"), time.Minute) {
			t.Fatal("token B's proof: got false, want true")
		}
		overShare(t, c, key("K", "A", "a2"), time.Minute, domain.ProofTokenShare, ttl)
		if !first(t, c, key("K", "C", "c0"), time.Minute) {
			t.Fatal("token C's proof, the key's 4th: got false, want true")
		}
		overShare(t, c, key("K", "C", "c1"), time.Minute, domain.ProofKeyShare, ttl)

		time.Sleep(ttl + 300*time.Millisecond) // token A's two proofs expire
		if !first(t, c, key("K", "A", "a2"), time.Minute) || !first(t, c, key("K", "C", "c1"), time.Minute) {
			t.Fatal("tokens A and C once A's proofs expired: got false, want true")
		}
		overShare(t, c, key("K", "A", "a3"), time.Minute, domain.ProofKeyShare, time.Minute)
	})

	t.Run("shares: exact under concurrent calls", func(t *testing.T) {
		c := newCache(t, ports.ReplayShares{PerKey: 40, PerToken: 25})
		const goroutines, each = 8, 10
		var won, refused atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*each)
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					ok, err := c.FirstSeen(ctx, key("K", "A", fmt.Sprint(g, "-", i)), time.Minute)
					var pe *domain.ProofError
					switch {
					case ok:
						won.Add(1)
					case errors.As(err, &pe) && pe.Reason == domain.ProofTokenShare:
						refused.Add(1)
					default:
						errs <- fmt.Errorf("FirstSeen: got %v, %v; want true or a token share error", ok, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if won.Load() != 25 || refused.Load() != goroutines*each-25 {
			t.Fatalf("%d distinct proofs with one token of share 25: %d recorded, %d refused; want 25 and %d",
				goroutines*each, won.Load(), refused.Load(), goroutines*each-25)
		}
	})
}
