package main

import (
	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/cognito"
	"github.com/example/spaapi/adapters/entra"
	"github.com/example/spaapi/adapters/hs256"
	"github.com/example/spaapi/adapters/introspection"
	"github.com/example/spaapi/adapters/keycloak"
	"github.com/example/spaapi/adapters/oidc"
	"github.com/example/spaapi/adapters/okta"
	"github.com/example/spaapi/adapters/static"
)

// providers is the registry of identity providers: each value of
// AUTH_PROVIDER and the adapter it chooses, with the settings that adapter
// owns. Adding a provider is one package under adapters/ (Settings, Load,
// New) and one line here; nothing else in the program names providers.
var providers = map[string]provider{
	"auth0":         register(auth0.Settings, auth0.Load, auth0.New),
	"cognito":       register(cognito.Settings, cognito.Load, cognito.New),
	"entra":         register(entra.Settings, entra.Load, entra.New),
	"hs256":         register(hs256.Settings, hs256.Load, hs256.New),
	"introspection": register(introspection.Settings, introspection.Load, introspection.New),
	"keycloak":      register(keycloak.Settings, keycloak.Load, keycloak.New),
	"oidc":          register(oidc.Settings, oidc.Load, oidc.New),
	"okta":          register(okta.Settings, okta.Load, okta.New),
	"static":        register(static.Settings, static.Load, static.New),
}

// defaultProvider is AUTH_PROVIDER's default, and the provider -dev's
// Auth0-compatible development issuer is trusted through.
const defaultProvider = "auth0"
