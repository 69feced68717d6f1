// Package domain is the vocabulary of the service: who is calling
// (Principal), what they may do (Policy) and the errors every layer speaks.
// It uses the standard library only; no JWT, HTTP or router types appear here.
package domain

import (
	"slices"
	"time"
)

// Principal is the verified caller behind an access token.
//
// Adapters build it from a token they have fully validated; the rest of the
// service trusts it. It is a value: copy it freely, but treat Claims as
// read-only.
type Principal struct {
	// Subject is the "sub" claim: the user (or "client-id@clients" for a
	// machine client on Auth0).
	Subject string
	// Issuer is the "iss" claim, equal to the configured issuer.
	Issuer string
	// Audiences is the "aud" claim as a list, one of which is the API's.
	Audiences []string
	// Scopes are the space-separated values of the "scope" claim.
	Scopes []string
	// Permissions is Auth0's RBAC "permissions" claim, when present.
	Permissions []string
	// ClientID is the OAuth client the token was issued to ("client_id",
	// or Auth0's "azp").
	ClientID string
	// ExpiresAt is the "exp" claim.
	ExpiresAt time.Time
	// IssuedAt is the "iat" claim; zero when the token has none.
	IssuedAt time.Time
	// Claims holds every claim of the token as decoded JSON (numbers are
	// float64), for the application claims this struct does not name.
	Claims map[string]any
}

// HasScope reports whether the principal was granted scope s.
// Scopes are compared exactly: "read:messages" is not "Read:Messages".
func (p Principal) HasScope(s string) bool {
	return slices.Contains(p.Scopes, s)
}
