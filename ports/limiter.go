package ports

import (
	"context"
	"time"

	"github.com/example/spaapi/domain"
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

// CallingVerifier is a TokenVerifier whose checks may call another
// service: token introspection, which asks the issuer about every token
// it has no answer for. Each call costs that service a request and holds
// one of a bounded number of slots, so the verifier is told who asks:
// it gives each client at most a share of its slots, and app.Auth counts
// each call against the client's failure limit, whatever its answer.
// app.Auth uses VerifyFrom when the verifier has it.
//
// Implementation: adapters/introspection (tests use a double of their own).
type CallingVerifier interface {
	TokenVerifier
	// VerifyFrom is Verify for a token presented by client ("" when
	// unknown: no share applies). called reports whether this request
	// made a call (an answer from a cache, or from a call another request
	// made for the same token, is none). Errors as Verify's; when client
	// already has its share of calls under way, an error wrapping
	// domain.ErrUnavailable, without a call.
	VerifyFrom(ctx context.Context, client, rawToken string) (p domain.Principal, called bool, err error)
}
