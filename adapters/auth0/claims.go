package auth0

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/spaapi/domain"
)

// principal maps verified claims to a domain.Principal, refusing claims of
// the wrong JSON type. Claim names are matched exactly ("EXP" is not
// "exp"). Errors are *TokenError.
//
// "sub" may be absent: RFC 9068 §2.2 requires it, but machine tokens of
// some issuers (oauth2-mock-server's client_credentials tokens, for one)
// have none; if present it must be a non-empty string.
//
// The mapping covers every provider: scopes from "scope" (a string) or
// "scp" (Entra's string, Okta's array); Auth0's "permissions"; the client
// from "client_id", "azp", "appid" (Entra v1) or "cid" (Okta); roles from
// rolesClaims.
func principal(c jwt.MapClaims, rolesClaims []string) (domain.Principal, error) {
	p, err := mapClaims(c, rolesClaims)
	if err != nil {
		return p, domain.InvalidToken(domain.ReasonClaimType, err)
	}
	if _, present := c["sub"]; present && p.Subject == "" {
		return p, domain.InvalidToken(domain.ReasonClaimType, errors.New(`"sub" is empty`))
	}
	return p, nil
}

func mapClaims(c jwt.MapClaims, rolesClaims []string) (domain.Principal, error) {
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
	if p.Scopes, err = scopes(c); err != nil {
		return p, err
	}
	if p.Permissions, err = stringsClaim(c, "permissions"); err != nil {
		return p, err
	}
	for _, name := range []string{"client_id", "azp", "appid", "cid"} {
		id, err := stringClaim(c, name)
		if err != nil {
			return p, err
		}
		if p.ClientID == "" {
			p.ClientID = id
		}
	}
	if _, err = stringClaim(c, "jti"); err != nil {
		return p, err
	}
	for _, path := range rolesClaims {
		roles, err := rolesAt(c, path)
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
	p.Claims = c
	return p, nil
}

// scopes reads "scope" (space-separated string) or, without it, "scp"
// (space-separated string or array of strings).
func scopes(c jwt.MapClaims) ([]string, error) {
	if _, ok := c["scope"]; ok {
		s, err := stringClaim(c, "scope")
		return strings.Fields(s), err
	}
	switch v := c["scp"].(type) {
	case nil:
		if _, present := c["scp"]; present {
			return nil, errors.New(`"scp" is null`)
		}
		return nil, nil
	case string:
		return strings.Fields(v), nil
	}
	return stringsClaim(c, "scp")
}

// rolesAt reads roles at a claim name or dot path: an array of strings or
// one string. Absent is no roles.
func rolesAt(c jwt.MapClaims, path string) ([]string, error) {
	v, ok := domain.LookupClaim(c, path)
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
