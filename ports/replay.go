package ports

import (
	"context"
	"time"
)

// ReplayKey is one use of a DPoP proof (RFC 9449 §11.1), as a replay cache
// records it: the proof is JKT and JTI; JKT and Token are who it counts
// against.
type ReplayKey struct {
	// JKT is the RFC 7638 thumbprint of the proof's key.
	JKT string
	// Token names the access token the proof came with (its SHA-256, the
	// proof's "ath"), or is "" when there is none, as at a token endpoint.
	// A token is bound to one key: its share is counted within its JKT's.
	Token string
	// JTI is the proof's jti. The same jti with another key is another
	// proof.
	JTI string
	// ValidFrom is the earliest time the proof could have been accepted
	// anywhere: its iat less the leeway for clients whose clocks are ahead.
	ValidFrom time.Time
}

// ReplayCache remembers the DPoP proofs accepted for a while, so that a
// proof presented once is refused when presented again, on this instance
// or, with a shared store, on any other; and it bounds the share of itself
// any one key or token can take.
//
// Implementations: adapters/memory (in process, bounded) and adapters/redis
// (shared by every instance using the same Redis). Both pass the contract
// suite in ports/replaytest.
type ReplayCache interface {
	// Readiness: nil when the store answers and takes writes (always, for
	// one in process with room), else an error wrapping
	// domain.ErrUnavailable. /readyz asks it.
	Readiness
	// FirstSeen records key for ttl and reports whether it is new: true the
	// first time key's (JKT, JTI) is seen within its ttl, false every later
	// time until the ttl has passed. The check and the record are one
	// atomic step: of any number of concurrent calls with the same key,
	// exactly one gets true. ttl is rounded up to a whole millisecond, at
	// least one.
	//
	// Shares: a JKT holds at most the cache's ReplayShares.PerKey keys
	// whose ttl has not passed, and a Token at most PerToken. A new key beyond either is not recorded: FirstSeen returns a
	// *domain.ProofError with reason dpop_too_many_for_key or
	// dpop_too_many_for_token, whose RetryAfter says when the owner will
	// have room again. Nobody else's keys are affected. A key already held
	// is reported as seen (false, nil) whatever the shares.
	//
	// Loss: a store that lost keys it had recorded (a Redis restarted
	// without persistence) refuses, from the moment it notices, every key
	// whose ValidFrom is before the loss: a *domain.ProofError with reason
	// dpop_replay_store_restarted and RetryAfter until a proof made now
	// would be accepted. (The in-memory cache loses its keys only with its
	// process.)
	//
	// Strings may be any length; implementations store fixed-size digests
	// of them, never the strings themselves.
	//
	// Errors, otherwise: an error wrapping domain.ErrUnavailable when the
	// store cannot answer (unreachable, timed out, refusing writes, or full
	// of keys that have not expired yet). Callers must then refuse what
	// they were checking: never treat an error as "first seen".
	FirstSeen(ctx context.Context, key ReplayKey, ttl time.Duration) (bool, error)
}

// ReplayShares bound how much of a replay cache one proof key, and one
// access token, may hold: how many proofs whose ttl has not passed (see
// ReplayCache.FirstSeen). 0 sets no bound of its own.
type ReplayShares struct {
	PerKey, PerToken int
}
