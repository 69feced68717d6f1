package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/ports"
)

// verifier is what an identity provider's adapter gives the API.
type verifier interface {
	ports.TokenVerifier
	ports.Readiness
}

// starter builds a provider's adapter from the settings it loaded.
type starter func(ctx context.Context, log *slog.Logger, reg prometheus.Registerer) (verifier, func(), error)

// provider is one entry of the registry (providers.go).
type provider struct {
	// settings are the ones the provider owns (flags and variables).
	settings []jwtverify.Setting
	// load reads and checks the provider's settings, returning its
	// Config and how to start the adapter from it.
	load func(env jwtverify.Env, opts jwtverify.Options) (config any, start starter, err error)
}

// register makes a registry entry of a provider package's Settings, Load
// and New.
func register[C any, V verifier](settings []jwtverify.Setting,
	load func(jwtverify.Env, jwtverify.Options) (C, error),
	build func(context.Context, C, *slog.Logger, prometheus.Registerer) (V, func(), error)) provider {
	return provider{settings: settings, load: func(env jwtverify.Env, opts jwtverify.Options) (any, starter, error) {
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
	}}
}

// providerNames lists the registry's names, sorted.
func providerNames() []string { return slices.Sorted(maps.Keys(providers)) }

// ownSettings lists every provider's own settings, by provider name.
func ownSettings() []*setting {
	var out []*setting
	for _, name := range providerNames() {
		for _, s := range providers[name].settings {
			out = append(out, &setting{flag: s.Flag, envs: []string{s.Var}, usage: s.Usage})
		}
	}
	return out
}

// chooseProvider reads AUTH_PROVIDER, before any other setting, and
// refuses the settings of the providers not chosen.
func chooseProvider(get getter) (string, error) {
	name, from, err := get("auth-provider")
	if err != nil {
		return "", err
	}
	if name == "" {
		name = defaultProvider
	}
	if _, ok := providers[name]; !ok {
		hint := ""
		if _, ok := providers[strings.ToLower(name)]; ok {
			hint = fmt.Sprintf(" (names are lower case: %s)", strings.ToLower(name))
		}
		quoted := make([]string, 0, len(providers))
		for _, p := range providerNames() {
			quoted = append(quoted, strconv.Quote(p))
		}
		return "", fmt.Errorf("%s: %q is not one of %s%s", from, name, strings.Join(quoted, ", "), hint)
	}
	// Settings of other providers are mistakes worth stopping for.
	for _, owner := range providerNames() {
		if owner == name {
			continue
		}
		for _, s := range providers[owner].settings {
			if v, from, _ := get(s.Name()); v != "" {
				return "", fmt.Errorf("%s is set, but AUTH_PROVIDER is %s (it belongs to %s)", from, name, owner)
			}
		}
	}
	return name, nil
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
	start starter
}

// loadIdentity has the chosen provider load and check its settings,
// naming the variable at fault. With dev, the development issuer fills in
// the issuer and audience later (see trust).
func loadIdentity(name string, get getter, opts jwtverify.Options, dev bool) (identity, error) {
	if dev && name != defaultProvider {
		_, from, _ := get("auth-provider")
		return identity{}, fmt.Errorf("%s is %s, but -dev runs an Auth0-compatible issuer; unset it or drop -dev", from, name)
	}
	id := identity{name: name, env: jwtverify.Env(get), opts: opts}
	if dev {
		// Check the other settings now, with stand-ins for what the
		// development issuer will tell.
		probe := id
		probe.env = with(id.env, map[string]string{"issuer-base-url": "http://localhost/", "audience": "dev"})
		return id, probe.load()
	}
	err := id.load()
	if err != nil && name == defaultProvider && noneSet(get, devIssuerSettings()) {
		// Most likely a first run: say how to run without an issuer.
		err = fmt.Errorf("%w; to try it locally without an issuer run: go run ./cmd/api -dev", err)
	}
	return id, err
}

// noneSet reports whether none of the named settings has a value.
func noneSet(get getter, names []string) bool {
	for _, name := range names {
		if v, _, _ := get(name); v != "" {
			return false
		}
	}
	return true
}

// load has the provider load and check its settings.
func (id *identity) load() error {
	var err error
	id.config, id.start, err = providers[id.name].load(id.env, id.opts)
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
