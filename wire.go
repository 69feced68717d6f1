//go:build wireinject

// Package spaapi composes the service with google/wire. This file declares
// the injectors; `go tool wire` writes wire_gen.go from it, and only cmd/
// and tests import this package.
package spaapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/ports"
)

// services are the use cases, the DPoP proof verifier and the router,
// whatever verifies tokens and keeps used proofs. Each resource's service
// takes its store from ports.Stores, and reaches the router through
// httpapi.Services, filled in field by field.
var services = wire.NewSet(
	wire.FieldsOf(new(ports.Stores), "Messages"),
	app.NewAuth, app.NewMessages, app.NewHealth,
	dpop.New, wire.Bind(new(ports.ProofVerifier), new(*dpop.Verifier)),
	wire.Struct(new(httpapi.Services), "*"),
	httpapi.NewMetrics, httpapi.NewRouter,
)

// NewAPI builds the production API around the identity provider's adapter
// that cmd/api chose by AUTH_PROVIDER (verifier, and readiness: usually
// the same value, ready once the signing keys are loaded) and the stores
// of the database it opened from DATABASE_URL (one field per resource), at
// most quota messages per author; DPoP proofs as proofs (DPOP_*) and mode
// (DPOP_MODE) say, their jtis kept in replay (Redis with REDIS_URL, else
// memory); failed credential checks counted per client address by limiter
// (AUTH_FAILURE_LIMIT; nil: no limit). Metrics go to reg. cleanup releases
// what the graph started.
func NewAPI(ctx context.Context, verifier ports.TokenVerifier, readiness ports.Readiness, stores ports.Stores, quota app.MessageQuota,
	proofs dpop.Config, replay ports.ReplayCache, mode app.DPoPMode, web httpapi.Config, log *slog.Logger, reg *prometheus.Registry,
	limiter ports.FailureLimiter) (http.Handler, func(), error) {
	wire.Build(
		wire.Bind(new(prometheus.Registerer), new(*prometheus.Registry)),
		services,
	)
	return nil, nil, nil
}

// NewTestAPI builds the same API around any verifier, e.g. adapters/fake,
// any stores, any replay cache and any failure limiter (or none).
func NewTestAPI(verifier ports.TokenVerifier, readiness ports.Readiness, stores ports.Stores, quota app.MessageQuota,
	proofs dpop.Config, replay ports.ReplayCache, mode app.DPoPMode, web httpapi.Config, log *slog.Logger, reg *prometheus.Registry,
	limiter ports.FailureLimiter) (http.Handler, error) {
	wire.Build(services, wire.Bind(new(prometheus.Registerer), new(*prometheus.Registry)))
	return nil, nil
}
