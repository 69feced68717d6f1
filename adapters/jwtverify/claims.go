package jwtverify

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/spaapi/domain"
)

// Mapping says where a provider's tokens keep what a domain.Principal
// holds beyond the registered claims. Every claim it names is checked for
// its JSON type when present; a wrong type refuses the token.
type Mapping struct {
	// Scope is a claim holding scopes as one space-separated string
	// (RFC 9068 "scope"); "" for none.
	Scope string
	// ScopeList is read when Scope is absent: a space-separated string or
	// an array of strings (as some providers' "scp").
	ScopeList string
	// Permissions is a claim holding an array of permission strings; ""
	// for none.
	Permissions string
	// Clients are the claims that may name the OAuth client, in order:
	// the first present and non-empty one is the principal's client.
	Clients []string
	// Roles are claim names, or dot paths into nested objects
	// ("realm_access.roles"), each an array of strings or one string; the
	// principal's roles are all of them (after RoleKeys'), in order.
	Roles []string
	// RoleKeys are places for roles read before Roles, each given as the
	// exact keys leading to it, for keys that contain dots themselves
	// (resource_access, "com.example.api", roles).
	RoleKeys [][]string
}

// StandardMapping is where most issuers' access tokens keep these:
// "scope" (RFC 9068), else "scp"; "permissions" (Auth0's RBAC); the
// client in "client_id" (RFC 9068), "azp", "appid" (Entra v1) or "cid"
// (Okta); and the roles at roles.
func StandardMapping(roles ...string) Mapping {
	return Mapping{
		Scope: "scope", ScopeList: "scp", Permissions: "permissions",
		Clients: []string{"client_id", "azp", "appid", "cid"},
		Roles:   roles,
	}
}

// principal maps verified claims to a domain.Principal, refusing claims of
// the wrong JSON type. Claim names are matched exactly ("EXP" is not
// "exp"). Errors are *domain.TokenError.
//
// "sub" may be absent: RFC 9068 §2.2 requires it, but machine tokens of
// some issuers (oauth2-mock-server's client_credentials tokens, for one)
// have none; if present it must be a non-empty string. "iss", "jti",
// "client_id" and "scope" are strings when present, whatever the mapping
// (RFC 7519, RFC 9068 §2.2).
func (m *Mapping) principal(c jwt.MapClaims) (domain.Principal, error) {
	p, err := m.mapClaims(c)
	if err != nil {
		return p, domain.InvalidToken(domain.ReasonClaimType, err)
	}
	if _, present := c["sub"]; present && p.Subject == "" {
		return p, domain.InvalidToken(domain.ReasonClaimType, errors.New(`"sub" is empty`))
	}
	return p, nil
}

func (m *Mapping) mapClaims(c jwt.MapClaims) (domain.Principal, error) {
	var p domain.Principal
	var err error
	if p.Subject, err = stringClaim(c, "sub"); err != nil {
		return p, err
	}
	if p.Issuer, err = stringClaim(c, "iss"); err != nil {
		return p, err
	}
	aud, err := c.GetAudience()
	if err != nil {
		return p, err
	}
	p.Audiences = []string(aud)
	for _, name := range []string{"jti", "client_id", "scope"} {
		if _, err = stringClaim(c, name); err != nil {
			return p, err
		}
	}
	if p.Scopes, err = m.scopes(c); err != nil {
		return p, err
	}
	if m.Permissions != "" {
		if p.Permissions, err = stringsClaim(c, m.Permissions); err != nil {
			return p, err
		}
	}
	for _, name := range m.Clients {
		id, err := stringClaim(c, name)
		if err != nil {
			return p, err
		}
		if p.ClientID == "" {
			p.ClientID = id
		}
	}
	for _, keys := range m.RoleKeys {
		v, ok := lookupKeys(c, keys)
		roles, err := rolesOf(v, ok, strings.Join(keys, "."))
		if err != nil {
			return p, err
		}
		p.Roles = append(p.Roles, roles...)
	}
	for _, path := range m.Roles {
		v, ok := domain.LookupClaim(c, path)
		roles, err := rolesOf(v, ok, path)
		if err != nil {
			return p, err
		}
		p.Roles = append(p.Roles, roles...)
	}
	exp, err := c.GetExpirationTime()
	if err != nil || exp == nil {
		return p, errors.New(`"exp" missing or not a number`)
	}
	p.ExpiresAt = exp.Time
	if iat, err := c.GetIssuedAt(); err == nil && iat != nil {
		p.IssuedAt = iat.Time
	}
	if p.JKT, err = Confirmation(c); err != nil {
		return p, err
	}
	p.Claims = c
	return p, nil
}

// Confirmation reads "cnf" (RFC 7800) from a token's claims, or from an
// introspection answer: absent, or an object whose one member is "jkt", a
// non-empty string (a DPoP-bound token, RFC 9449 §6.1), returned. Any
// other confirmation method (an mTLS certificate's "x5t#S256", a raw
// "jwk", ...) is refused: nothing here can check it, and accepting such a
// token as a bearer token would undo its binding.
func Confirmation(c map[string]any) (string, error) {
	v, ok := c["cnf"]
	if !ok {
		return "", nil
	}
	cnf, ok := v.(map[string]any)
	if !ok {
		return "", errors.New(`"cnf" is not an object`)
	}
	for name := range cnf {
		if name != "jkt" {
			return "", fmt.Errorf(`"cnf" has %.40q: only "jkt" (DPoP) bindings can be checked`, name)
		}
	}
	jkt, ok := cnf["jkt"].(string)
	if !ok || jkt == "" {
		return "", errors.New(`"cnf"."jkt" missing, empty or not a string`)
	}
	return jkt, nil
}

// scopes reads the Scope claim (a space-separated string) or, without it,
// the ScopeList claim (a space-separated string or an array of strings).
func (m *Mapping) scopes(c jwt.MapClaims) ([]string, error) {
	if _, ok := c[m.Scope]; ok && m.Scope != "" {
		s, err := stringClaim(c, m.Scope)
		return strings.Fields(s), err
	}
	if m.ScopeList == "" {
		return nil, nil
	}
	switch v := c[m.ScopeList].(type) {
	case nil:
		if _, present := c[m.ScopeList]; present {
			return nil, fmt.Errorf("%q is null", m.ScopeList)
		}
		return nil, nil
	case string:
		return strings.Fields(v), nil
	}
	return stringsClaim(c, m.ScopeList)
}

// lookupKeys follows keys through nested objects.
func lookupKeys(c map[string]any, keys []string) (any, bool) {
	var cur any = c
	for _, k := range keys {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return cur, len(keys) > 0
}

// rolesOf reads the roles found (ok) at path: an array of strings or one
// string. Absent is no roles.
func rolesOf(v any, ok bool, path string) ([]string, error) {
	if !ok {
		return nil, nil
	}
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("roles claim %q has a non-string element", path)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("roles claim %q is not a string or an array", path)
}

// stringClaim returns claim name, "" if absent, or an error if it is not a
// JSON string.
func stringClaim(c jwt.MapClaims, name string) (string, error) {
	v, ok := c[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%q is not a string", name)
	}
	return s, nil
}

// stringsClaim returns claim name as a list of strings, nil if absent, or
// an error if it is not a JSON array of strings.
func stringsClaim(c jwt.MapClaims, name string) ([]string, error) {
	v, ok := c[name]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%q is not an array", name)
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%q has a non-string element", name)
		}
		out = append(out, s)
	}
	return out, nil
}
