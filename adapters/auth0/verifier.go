// Package auth0 verifies JWT access tokens: from Auth0, any OpenID Connect
// issuer, Amazon Cognito or Microsoft Entra ID with keys from the issuer's
// JWKS, or with keys from a file or a shared secret (provider.go). It
// describes each provider's issuers to the provider-neutral engine,
// adapters/jwtverify, which does the verifying.
package auth0

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.TokenVerifier = (*Verifier)(nil)
	_ ports.Readiness     = (*Verifier)(nil)
)

// Verifier checks access tokens against the configured issuers.
type Verifier = jwtverify.Verifier

// New returns a verifier for cfg and starts fetching the issuers' keys in
// the background; it does not wait for them, so it succeeds while an
// issuer is unreachable. The fetching stops when ctx ends or cleanup is
// called. A bad cfg is an error naming the setting. The verifier's metrics
// (key fetches, key sets, cache) are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, fmt.Errorf("auth0: %w", err)
	}
	issuers, err := cfg.issuers()
	if err != nil {
		return nil, nil, fmt.Errorf("auth0: %w", err)
	}
	v, cleanup, err := jwtverify.New(ctx, cfg.options(), issuers, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("auth0: %w", err)
	}
	return v, cleanup, nil
}
