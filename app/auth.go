// Package app holds the use cases the HTTP endpoints call. It depends on
// ports and domain only: no JWT, key-set or HTTP types.
package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// signingKeys names, for clients, what a verifier waits for.
const signingKeys = "the token signing keys"

// Auth authenticates callers and authorizes what they do.
type Auth struct {
	verifier ports.TokenVerifier
}

// NewAuth returns an Auth that trusts tokens verifier accepts.
func NewAuth(verifier ports.TokenVerifier) *Auth {
	return &Auth{verifier: verifier}
}

// Authenticate returns the principal behind rawToken.
// An empty token is domain.ErrUnauthenticated; a refused one wraps
// domain.ErrInvalidToken; keys not loaded yet wraps domain.ErrUnavailable.
func (a *Auth) Authenticate(ctx context.Context, rawToken string) (domain.Principal, error) {
	if rawToken == "" {
		return domain.Principal{}, domain.ErrUnauthenticated
	}
	p, err := a.verifier.Verify(ctx, rawToken)
	if err != nil {
		switch {
		case errors.Is(err, domain.ErrInvalidToken):
			return domain.Principal{}, err
		case errors.Is(err, domain.ErrUnavailable):
			// Say what is missing, for the 503 the caller gets.
			if !errors.As(err, new(*domain.UnavailableError)) {
				err = &domain.UnavailableError{What: signingKeys, Cause: err}
			}
			return domain.Principal{}, err
		}
		// An adapter broke its contract. Fail closed, keeping the cause for logs.
		return domain.Principal{}, domain.InvalidToken(domain.ReasonMalformed, fmt.Errorf("verifier: unexpected error: %w", err))
	}
	return p, nil
}

// Authorize returns nil when policy allows p, or the policy's error
// (wrapping domain.ErrForbidden) when it does not.
func (a *Auth) Authorize(_ context.Context, p domain.Principal, policy domain.Policy) error {
	return policy.Check(p)
}
