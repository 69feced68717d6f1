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

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/ports"
)

// services are the use cases and the router, whatever verifies tokens.
var services = wire.NewSet(
	app.NewAuth, app.NewMessages, app.NewHealth,
	httpapi.NewMetrics, httpapi.NewRouter,
)

// NewAPI builds the production API: tokens are checked by the auth0 adapter
// against the configured issuer; messages are kept in store, at most quota
// per author. Metrics go to reg. cleanup stops the background key fetching.
func NewAPI(ctx context.Context, auth auth0.Config, web httpapi.Config, store ports.MessageStore, quota app.MessageQuota, log *slog.Logger, reg *prometheus.Registry) (http.Handler, func(), error) {
	wire.Build(
		auth0.New,
		wire.Bind(new(ports.TokenVerifier), new(*auth0.Verifier)),
		wire.Bind(new(ports.Readiness), new(*auth0.Verifier)),
		wire.Bind(new(prometheus.Registerer), new(*prometheus.Registry)),
		services,
	)
	return nil, nil, nil
}

// NewTestAPI builds the same API around any verifier, e.g. adapters/fake,
// and any message store.
func NewTestAPI(verifier ports.TokenVerifier, readiness ports.Readiness, store ports.MessageStore, quota app.MessageQuota, web httpapi.Config, log *slog.Logger, reg *prometheus.Registry) (http.Handler, error) {
	wire.Build(services, wire.Bind(new(prometheus.Registerer), new(*prometheus.Registry)))
	return nil, nil
}
