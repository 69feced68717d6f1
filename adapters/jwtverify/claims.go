package jwtverify

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

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
	// ACR, AMR and AuthTime say how the user logged in, for step-up
	// policies (RFC 9470): the claims that may hold the authentication
	// context class (a string), the methods (an array of strings) and
	// the time of the login (seconds since the epoch), each read from
	// the first of its claims the token has.
	ACR, AMR, AuthTime []string
}

// StandardMapping is where most issuers' access tokens keep these:
// "scope" (RFC 9068), else "scp"; "permissions" (Auth0's RBAC); the
// client in "client_id" (RFC 9068), "azp", "appid" (Entra v1) or "cid"
// (Okta); the roles at roles; the login in "acr", "amr" and "auth_time"
// (OpenID Connect Core §2, RFC 9068 §2.2.1).
func StandardMapping(roles ...string) Mapping {
	return Mapping{
		Scope: "scope", ScopeList: "scp", Permissions: "permissions",
		Clients: []string{"client_id", "azp", "appid", "cid"},
		Roles:   roles,
		ACR:     []string{"acr"}, AMR: []string{"amr"}, AuthTime: []string{"auth_time"},
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
	if te := (*domain.TokenError)(nil); errors.As(err, &te) {
		return p, err
	}
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
	if p.JKT, p.CertThumbprint, err = Confirmation(c); err != nil {
		return p, err
	}
	if p.ACR, p.AMR, p.AuthTime, err = Login(c, m.ACR, m.AMR, m.AuthTime); err != nil {
		return p, err
	}
	p.Claims = c
	return p, nil
}

// Login reads how the user logged in from a token's claims (or an
// introspection answer): the authentication context class from the first
// of acrClaims present (a string), the methods from the first of
// amrClaims (an array of strings), the time of the login from the first
// of authTimeClaims (seconds since the epoch, from 0 to the end of year
// 9999). A claim of another type is an error: a token that says "acr": 2
// says nothing a step-up policy can compare.
func Login(c map[string]any, acrClaims, amrClaims, authTimeClaims []string) (acr string, amr []string, authTime time.Time, err error) {
	if name, v, ok := first(c, acrClaims); ok {
		s, isString := v.(string)
		if !isString {
			return "", nil, time.Time{}, fmt.Errorf("%q is not a string", name)
		}
		acr = s
	}
	if name, v, ok := first(c, amrClaims); ok {
		arr, isArray := v.([]any)
		if !isArray {
			return "", nil, time.Time{}, fmt.Errorf("%q is not an array", name)
		}
		amr = make([]string, 0, len(arr))
		for _, e := range arr {
			s, isString := e.(string)
			if !isString {
				return "", nil, time.Time{}, fmt.Errorf("%q has a non-string element", name)
			}
			amr = append(amr, s)
		}
	}
	if name, v, ok := first(c, authTimeClaims); ok {
		f, isNumber := v.(float64)
		if !isNumber || f < 0 || f > maxNumericDate {
			return "", nil, time.Time{}, fmt.Errorf("%q is not a time in seconds since 1970 (up to year 9999)", name)
		}
		sec, frac := math.Modf(f)
		authTime = time.Unix(int64(sec), int64(frac*1e9))
	}
	return acr, amr, authTime, nil
}

// first returns the first of names present in c, and its value.
func first(c map[string]any, names []string) (string, any, bool) {
	for _, name := range names {
		if v, ok := c[name]; ok {
			return name, v, true
		}
	}
	return "", nil, false
}

// Confirmation reads "cnf" (RFC 7800) from a token's claims, or from an
// introspection answer, and returns the bindings this API checks: jkt, the
// RFC 7638 thumbprint of a DPoP key (RFC 9449 §6.1), and x5t, the
// base64url SHA-256 thumbprint of a client certificate (RFC 8705 §3.1);
// both "" when there is no "cnf".
//
// Members are read as RFC 7800 §3.1 says: the confirmation methods this
// API knows ("jkt", "x5t#S256") are returned, to be enforced; a token
// naming a registered method nothing here can check ("jwk", "jwe", "jku",
// "osc", or a "kid" alone) is refused, since accepting it as a bearer
// token would undo its binding; other members ("kid" beside a known
// method, an issuer's own) are ignored. A "cnf" that is not an object, an
// empty one, one with only members this API does not know, and a known
// method whose value is not a well-formed thumbprint are refused. Errors
// are *domain.TokenError (unsupported_cnf).
func Confirmation(c map[string]any) (jkt, x5t string, err error) {
	v, ok := c["cnf"]
	if !ok {
		return "", "", nil
	}
	cnf, ok := v.(map[string]any)
	if !ok {
		return "", "", refuseConfirmation(`"cnf" is not an object`)
	}
	for name := range cnf {
		switch name {
		case "jwk", "jwe", "jku", "osc":
			return "", "", refuseConfirmation(fmt.Sprintf(`"cnf" has %q: a confirmation method this API cannot check`, name))
		}
	}
	if jkt, err = thumbprintMember(cnf, "jkt"); err != nil {
		return "", "", err
	}
	if x5t, err = thumbprintMember(cnf, "x5t#S256"); err != nil {
		return "", "", err
	}
	if jkt == "" && x5t == "" {
		return "", "", refuseConfirmation(`"cnf" has no confirmation method this API can check ("jkt", "x5t#S256")`)
	}
	return jkt, x5t, nil
}

// thumbprintMember reads cnf's member name, "" if absent: a SHA-256
// thumbprint, base64url without padding (43 characters).
func thumbprintMember(cnf map[string]any, name string) (string, error) {
	v, ok := cnf[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok || len(s) != 43 {
		return "", refuseConfirmation(fmt.Sprintf(`"cnf"."%s" is not a string of 43 characters`, name))
	}
	if b, err := base64.RawURLEncoding.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", refuseConfirmation(fmt.Sprintf(`"cnf"."%s" is not a base64url SHA-256 thumbprint`, name))
	}
	return s, nil
}

func refuseConfirmation(msg string) error {
	return domain.InvalidToken(domain.ReasonConfirmation, errors.New(msg))
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
