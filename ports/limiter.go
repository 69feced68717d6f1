package ports

import (
	"context"
	"time"
)

// FailureLimiter counts failed credential checks per client, so that a
// client whose credentials keep failing (forged tokens, each costing a
// signature check) is refused for a while without its credentials being
// checked at all. A client is a string the HTTP layer derives from the
// request (an IPv4 address, or an IPv6 /64); "" is never passed.
//
// The limit (a domain.FailureLimit given to the implementation) is a
// bucket of Failures per client, one taken by each failure and one given
// back every Interval. Successes are never recorded: nothing but time
// resets a client's count, and no client's requests change another's.
//
// Implementations: adapters/memory (one process, a fixed-size table) and
// adapters/redis (counts shared by every instance using the same Redis).
// Both pass the contract suite in ports/limitertest.
type FailureLimiter interface {
	// Blocked returns how long client must still wait before its
	// credentials are checked again: 0 when it need not. It is asked
	// before every check, so it answers from process memory, never over
	// a network.
	Blocked(ctx context.Context, client string) time.Duration
	// Failed records one failed check by client and returns what Blocked
	// returns after it: more than 0 once the bucket is empty. Failures
	// recorded while the client is blocked (checks that began before the
	// block) do not deepen it: a block lasts at most one Interval after
	// the failure that caused it.
	//
	// Failed never fails: an implementation whose shared store cannot
	// answer counts in this process instead (it fails open to a limit per
	// instance, and never blocks a client for its own trouble).
	Failed(ctx context.Context, client string) time.Duration
}
