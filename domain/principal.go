// Package domain is the vocabulary of the service: who is calling
// (Principal), what they may do (Policy) and the errors every layer speaks.
// It uses the standard library only; no JWT, HTTP or router types appear here.
package domain

import (
	"slices"
	"strings"
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
	// Scopes are the space-separated values of the "scope" claim (or the
	// provider's own claim for scopes, such as "scp").
	Scopes []string
	// Permissions is Auth0's RBAC "permissions" claim, when present.
	Permissions []string
	// Roles are the caller's roles or groups, from the identity
	// provider's claims for them (a namespaced custom claim,
	// realm_access.roles, groups, ...: each provider's adapter knows
	// which).
	Roles []string
	// ClientID is the OAuth client the token was issued to ("client_id",
	// "azp", or the provider's own claim for it).
	ClientID string
	// ExpiresAt is the "exp" claim.
	ExpiresAt time.Time
	// IssuedAt is the "iat" claim; zero when the token has none.
	IssuedAt time.Time
	// ACR is the "acr" claim: the authentication context class the
	// user's login satisfied (OpenID Connect Core §2), such as Auth0's
	// "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
	// after multi-factor authentication; "" when the token has none.
	ACR string
	// AMR is the "amr" claim: the methods the user authenticated with
	// (RFC 8176: "pwd", "otp", "mfa", ...); nil when the token has none.
	AMR []string
	// AuthTime is the "auth_time" claim: when the user last actively
	// authenticated; zero when the token has none. A refreshed token
	// keeps the time of the login it descends from.
	AuthTime time.Time
	// JKT is the token's "cnf"."jkt": the RFC 7638 thumbprint of the key
	// the token is bound to (DPoP, RFC 9449 §6), "" for a bearer token. A
	// bound token is accepted only with a proof made with that key.
	JKT string
	// CertThumbprint is the token's "cnf"."x5t#S256" (RFC 8705 §3.1): the
	// base64url SHA-256 of the DER client certificate the token is bound
	// to, "" for a token not bound to one. A bound token is accepted only
	// from a request that came with that certificate.
	CertThumbprint string
	// Claims holds every claim of the token as decoded JSON (numbers are
	// float64), for the application claims this struct does not name.
	Claims map[string]any
}

// HasScope reports whether the principal was granted scope s.
// Scopes are compared exactly: "read:messages" is not "Read:Messages".
func (p Principal) HasScope(s string) bool {
	return slices.Contains(p.Scopes, s)
}

// HasPermission reports whether the principal holds permission s.
func (p Principal) HasPermission(s string) bool {
	return slices.Contains(p.Permissions, s)
}

// Is reports whether the principal is the subject sub of issuer iss: the
// owner of what that subject created. The same sub from another issuer is
// someone else; an empty subject is no one.
func (p Principal) Is(iss, sub string) bool {
	return p.Subject != "" && p.Subject == sub && p.Issuer == iss
}

// HasRole reports whether the principal has role r.
func (p Principal) HasRole(r string) bool {
	return slices.Contains(p.Roles, r)
}

// Claim returns the token claim at path: a top-level claim name (which may
// contain dots, as a namespaced "https://example.com/roles" does), or else
// a dot-separated path into nested objects, as "realm_access.roles".
func (p Principal) Claim(path string) (any, bool) {
	return LookupClaim(p.Claims, path)
}

// LookupClaim finds path in claims as Principal.Claim does.
func LookupClaim(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, true
	}
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
