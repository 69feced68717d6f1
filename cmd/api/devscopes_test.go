package main

import (
	"slices"
	"testing"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/httpapi"
)

// Every scope a route of the API asks for is one the development issuer
// offers (adapters/devissuer/scopes.go), so that a new resource's scopes
// can be tried in -dev, from the SPA or curl, without editing config.json
// by hand: a scope missing from the list fails here, naming the file.
func TestDevIssuerOffersEveryRouteScope(t *testing.T) {
	routeScopes := httpapi.Scopes()
	for _, want := range []string{"read:messages", "write:messages", "delete:messages"} {
		if !slices.Contains(routeScopes, want) {
			t.Errorf("httpapi.Scopes() = %q lacks %s: the route table is not read", routeScopes, want)
		}
	}
	for _, sc := range routeScopes {
		if !slices.ContainsFunc(devissuer.APIScopes, func(s devissuer.APIScope) bool { return s.Name == sc }) {
			t.Errorf("a route asks for %s, which adapters/devissuer/scopes.go (APIScopes) does not list: add it there, with who holds it in development", sc)
		}
	}
}
