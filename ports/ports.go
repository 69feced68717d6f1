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
// are loaded) and adapters/fake (ready unless told otherwise).
type Readiness interface {
	// Ready returns nil when ready, or an error wrapping
	// domain.ErrUnavailable that says what is missing.
	Ready(ctx context.Context) error
}

// MessageStore keeps messages.
//
// Implementations: adapters/memory (in process, bounded) and adapters/fake
// (in process, failing on demand, for tests). Both pass the contract suite
// in ports/messagestest.
type MessageStore interface {
	// Add stores m, whose ID is new.
	Add(ctx context.Context, m domain.Message) error
	// List returns the messages, newest first.
	List(ctx context.Context) ([]domain.Message, error)
	// Get returns the message with id, or an error wrapping
	// domain.ErrNotFound.
	Get(ctx context.Context, id string) (domain.Message, error)
	// Delete removes the message with id, or returns an error wrapping
	// domain.ErrNotFound.
	Delete(ctx context.Context, id string) error
}
