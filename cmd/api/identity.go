package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/cognito"
	"github.com/example/spaapi/adapters/entra"
	"github.com/example/spaapi/adapters/hs256"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/oidc"
	"github.com/example/spaapi/adapters/static"
	"github.com/example/spaapi/ports"
)

// verifier is what an identity provider's adapter gives the API.
type verifier interface {
	ports.TokenVerifier
	ports.Readiness
}

// identity is the chosen identity provider with its settings, loaded and
// checked, ready to start.
type identity struct {
	name string
	env  jwtverify.Env
	opts jwtverify.Options
	// config is the provider's Config, as its Load returned it.
	config any
	// start builds the provider's adapter from config.
	start func(ctx context.Context, log *slog.Logger, reg prometheus.Registerer) (verifier, func(), error)
}

// provider loads one provider's settings; the adapter starts later.
type provider func(env jwtverify.Env, opts jwtverify.Options) (config any, start func(context.Context, *slog.Logger, prometheus.Registerer) (verifier, func(), error), err error)

// adapter joins a provider package's Load and New into a provider.
func adapter[C any, V verifier](load func(jwtverify.Env, jwtverify.Options) (C, error),
	build func(context.Context, C, *slog.Logger, prometheus.Registerer) (V, func(), error)) provider {
	return func(env jwtverify.Env, opts jwtverify.Options) (any, func(context.Context, *slog.Logger, prometheus.Registerer) (verifier, func(), error), error) {
		cfg, err := load(env, opts)
		if err != nil {
			return nil, nil, err
		}
		return cfg, func(ctx context.Context, log *slog.Logger, reg prometheus.Registerer) (verifier, func(), error) {
			v, cleanup, err := build(ctx, cfg, log, reg)
			if err != nil {
				return nil, nil, err
			}
			return v, cleanup, nil
		}, nil
	}
}

// providerSettings are the settings the provider packages own.
var providerSettings = [][]jwtverify.Setting{auth0.Settings, cognito.Settings, entra.Settings, static.Settings, hs256.Settings}

// loadIdentity reads which identity provider to trust and has it load and
// check its settings, naming the variable at fault. With dev, the
// development issuer fills in the issuer and audience later (see trust).
func loadIdentity(get getter, opts jwtverify.Options, dev bool) (identity, error) {
	name, from, err := get("auth-provider")
	if err != nil {
		return identity{}, err
	}
	if name == "" {
		name = "auth0"
	}
	if dev && name != "auth0" {
		return identity{}, fmt.Errorf("%s is %s, but -dev runs an Auth0-compatible issuer; unset it or drop -dev", from, name)
	}

	// Settings of other providers are mistakes worth stopping for.
	owners := map[string][]jwtverify.Setting{
		"auth0": auth0.Settings, "cognito": cognito.Settings, "entra": entra.Settings, "static": static.Settings, "hs256": hs256.Settings,
	}
	for owner, settings := range owners {
		for _, s := range settings {
			if v, from, _ := get(s.Name()); v != "" && owner != name {
				return identity{}, fmt.Errorf("%s is set, but AUTH_PROVIDER is %s (it belongs to %s)", from, name, owner)
			}
		}
	}

	id := identity{name: name, env: jwtverify.Env(get), opts: opts}
	if dev {
		// Check the other settings now, with stand-ins for what the
		// development issuer will tell.
		probe := id
		probe.env = with(id.env, map[string]string{"issuer-base-url": "http://localhost/", "audience": "dev"})
		return id, probe.load()
	}
	return id, id.load()
}

// load has the provider load and check its settings.
func (id *identity) load() error {
	var p provider
	switch id.name {
	case "auth0":
		p = adapter(auth0.Load, auth0.New)
	case "oidc":
		p = adapter(oidc.Load, oidc.New)
	case "cognito":
		p = adapter(cognito.Load, cognito.New)
	case "entra":
		p = adapter(entra.Load, entra.New)
	case "static":
		p = adapter(static.Load, static.New)
	case "hs256":
		p = adapter(hs256.Load, hs256.New)
	default:
		return fmt.Errorf("AUTH_PROVIDER: %q is not one of auth0, oidc, cognito, entra, static, hs256", id.name)
	}
	var err error
	id.config, id.start, err = p(id.env, id.opts)
	return err
}

// setting returns a setting's value as given.
func (id *identity) setting(name string) string {
	v, _, _ := id.env(name)
	return v
}

// trust points the provider at the development issuer, as if
// ISSUER_BASE_URL and AUDIENCE named it, through the same adapter real
// tokens go through.
func (id *identity) trust(issuer, audience string) error {
	id.env = with(id.env, map[string]string{"issuer-base-url": issuer, "audience": audience})
	return id.load()
}

// with returns env with some settings replaced.
func with(env jwtverify.Env, values map[string]string) jwtverify.Env {
	return func(name string) (string, string, error) {
		if v, ok := values[name]; ok {
			return v, name, nil
		}
		return env(name)
	}
}
