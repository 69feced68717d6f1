package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"testing"
	"time"

	"github.com/example/spaapi/ports"
)

// Shards are chosen by a hash keyed with the cache's own random seed: two
// caches place the same keys differently, so nobody can work out which
// keys share a shard.
func TestReplayShardsAreKeyed(t *testing.T) {
	a := NewReplayCache(1024, ports.ReplayShares{}, nil)
	b := NewReplayCache(1024, ports.ReplayShares{}, nil)
	same := 0
	for i := range 64 {
		jkt := fmt.Sprint("key-", i)
		if maphash.String(a.seeds[1], jkt)%replayShards == maphash.String(b.seeds[1], jkt)%replayShards {
			same++
		}
	}
	if same == 64 {
		t.Fatal("64 keys land in the same shards of two caches: the shard hash is not keyed per cache")
	}
}

// Even an attacker who knew the seed gains nothing by aiming at a shard:
// a shard has no bound of its own, only the cache has. 20,000 proofs from
// 2,000 keys all in one shard (more than a 64th of the cache) and everyone
// else is still served.
func TestReplayOneShardFullOfProofsBlocksNobody(t *testing.T) {
	ctx := context.Background()
	const size = 64 * 256 // 16,384 proofs
	c := NewReplayCache(size*2, ports.ReplayShares{PerKey: 16, PerToken: 16}, nil)
	var aimed []string
	for i := 0; len(aimed) < 2000; i++ {
		jkt := fmt.Sprint("aimed-", i)
		if maphash.String(c.seeds[1], jkt)%replayShards == 7 {
			aimed = append(aimed, jkt)
		}
	}
	for i := range 20_000 {
		k := ports.ReplayKey{JKT: aimed[i%len(aimed)], Token: "t", JTI: fmt.Sprint(i)}
		if ok, err := c.FirstSeen(ctx, k, time.Minute); !ok || err != nil {
			t.Fatalf("aimed proof %d: got %v, %v; want true, nil", i, ok, err)
		}
	}
	if n := len(c.shards[7].entries); n != 20_000 {
		t.Fatalf("shard 7 holds %d proofs, want 20000", n)
	}
	for i := range 1000 {
		k := ports.ReplayKey{JKT: fmt.Sprint("other-", i), Token: "t", JTI: "1"}
		if ok, err := c.FirstSeen(ctx, k, time.Minute); !ok || err != nil {
			t.Fatalf("another client's proof (%d) after the aimed flood: got %v, %v; want true, nil", i, ok, err)
		}
	}
}
