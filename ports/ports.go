// Package ports declares the interfaces the application needs from the
// outside world. Adapters implement them; app depends only on them.
package ports

import (
	"context"

	"github.com/example/spaapi/domain"
)

// TokenVerifier turns a raw bearer token into the principal it proves.
//
// Implementations: one adapter per identity provider (JWTs checked by the
// provider-neutral adapters/jwtverify against the provider's keys; cmd/api
// picks one by AUTH_PROVIDER) and adapters/fake (a table, for tests). All
// pass the contract suite in ports/verifiertest.
type TokenVerifier interface {
	// Verify validates rawToken completely (signature, algorithm, type,
	// issuer, audience, lifetime) and returns its principal.
	//
	// Errors:
	//   - a *domain.TokenError, wrapping domain.ErrInvalidToken, when the
	//     token is refused, whatever the reason (including "" and garbage);
	//   - an error wrapping domain.ErrUnavailable when the token cannot be
	//     checked yet (e.g. the issuer's keys have never been loaded).
	//
	// Error text never contains the token. Verify is safe for concurrent use.
	Verify(ctx context.Context, rawToken string) (domain.Principal, error)
}

// Readiness reports whether an adapter can do its work yet.
//
// Implementations: the identity provider adapters (ready once signing keys
// are loaded), every database and its stores (ready once the database is
// reachable and migrated) and adapters/fake (ready unless told otherwise).
type Readiness interface {
	// Ready returns nil when ready, or an error wrapping
	// domain.ErrUnavailable that says what is missing.
	Ready(ctx context.Context) error
}

// MessageStore keeps messages.
//
// Implementations: adapters/sqlite (the embedded default), adapters/postgres
// (for many instances on one database), adapters/memory (in process,
// bounded), each handed out by its database (see Stores), and adapters/fake
// (failing on demand, for tests). All pass the contract suite in
// ports/messagestest.
//
// Every method returns an error wrapping domain.ErrUnavailable when the
// storage cannot be reached (not yet, or not any more); Ready says the same
// without doing any work. Methods are safe for concurrent use.
type MessageStore interface {
	Readiness
	// Add stores m, whose ID is new, unless its author (m.AuthorIssuer and
	// m.Author together) already keeps perAuthor messages: then it stores
	// nothing and returns a *domain.QuotaError. Counting and inserting are
	// one atomic step, so concurrent Adds by one author never pass
	// perAuthor together. A store with a limit of its own refuses the same
	// way (QuotaError.Total); no store ever evicts a message to make room.
	Add(ctx context.Context, m domain.Message, perAuthor int) error
	// List returns at most limit (>= 1) messages, newest first in
	// domain.MessageKey order, beginning with the first one after after
	// (nil: with the newest). An empty result is not an error. The
	// slice is the caller's to read but not to change: a store may hand
	// the same one to later callers.
	List(ctx context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error)
	// Get returns the message with id, or an error wrapping
	// domain.ErrNotFound.
	Get(ctx context.Context, id string) (domain.Message, error)
	// Delete removes the message with id, or returns an error wrapping
	// domain.ErrNotFound.
	Delete(ctx context.Context, id string) error
}
