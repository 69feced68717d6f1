package ports

import (
	"context"
	"time"
)

// ReplayCache remembers keys for a while, so that something presented once
// (a DPoP proof's jti) is refused when presented again, on this instance or,
// with a shared store, on any other.
//
// Implementations: adapters/memory (in process, bounded) and adapters/redis
// (shared by every instance using the same Redis). Both pass the contract
// suite in ports/replaytest.
type ReplayCache interface {
	// Readiness: nil when the store answers (always, for one in process),
	// else an error wrapping domain.ErrUnavailable. /readyz asks it.
	Readiness
	// FirstSeen records key for ttl and reports whether it is new: true the
	// first time key is seen within its ttl, false every later time until
	// the ttl has passed. The check and the record are one atomic step: of
	// any number of concurrent calls with the same key, exactly one gets
	// true. ttl is rounded up to a whole millisecond, at least one.
	//
	// Keys may be any length; implementations store a fixed-size digest of
	// them, never the key itself.
	//
	// Errors: an error wrapping domain.ErrUnavailable when the store cannot
	// answer (unreachable, timed out, or full of keys that have not expired
	// yet). Callers must then refuse what they were checking: never treat
	// an error as "first seen".
	FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error)
}
