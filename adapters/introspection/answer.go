package introspection

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/domain"
)

// judge checks an active answer and turns it into a principal; the entry
// it returns carries the answer's nbf for cache hits. Members of the wrong
// JSON type refuse the token (bad_claim), as a JWT's claims would.
func (v *Verifier) judge(m map[string]any, now time.Time) (domain.Principal, entry, error) {
	var p domain.Principal
	var e entry
	tol := v.cfg.ClockTolerance
	refuse := func(r domain.Reason, msg string) (domain.Principal, entry, error) {
		return domain.Principal{}, entry{}, domain.InvalidToken(r, errors.New("introspection: "+msg))
	}

	// A token is a bearer token or one bound to a DPoP key (RFC 9449 §6.2:
	// "cnf" with "jkt", token_type DPoP) or to a client certificate (RFC
	// 8705 §3.2: "cnf" with "x5t#S256"), or both; the app layer then asks
	// for the proofs. Confirmation refuses the bindings it cannot check.
	var err error
	if p.JKT, p.CertThumbprint, err = jwtverify.Confirmation(m); err != nil {
		return domain.Principal{}, entry{}, err
	}
	if tt, ok, err := stringMember(m, "token_type"); err != nil {
		return refuse(domain.ReasonClaimType, err.Error())
	} else if ok {
		switch {
		case strings.EqualFold(tt, "DPoP") && p.JKT == "":
			return refuse(domain.ReasonType, `"token_type" is DPoP, but there is no "cnf" with "jkt" to check proofs against`)
		case !accessTokenType(tt):
			return refuse(domain.ReasonType, `"token_type" does not name an access token`)
		}
	}
	// Ory Hydra (fosite) says which kind of token it introspected in
	// "token_use", and introspects refresh tokens too.
	if use, ok, err := stringMember(m, "token_use"); err != nil {
		return refuse(domain.ReasonClaimType, err.Error())
	} else if ok && use != "access_token" {
		return refuse(domain.ReasonType, `"token_use" is not access_token`)
	}

	exp, hasExp, err := timeMember(m, "exp")
	if err != nil {
		return refuse(domain.ReasonClaimType, err.Error())
	}
	if hasExp {
		if !now.Before(exp.Add(tol)) {
			return refuse(domain.ReasonExpired, "expired")
		}
		p.ExpiresAt = exp
	}
	if nbf, ok, err := timeMember(m, "nbf"); err != nil {
		return refuse(domain.ReasonClaimType, err.Error())
	} else if ok {
		e.notBefore = nbf.Add(-tol)
		if now.Before(e.notBefore) {
			return refuse(domain.ReasonNotYetValid, "not yet valid")
		}
	}
	if iat, ok, err := timeMember(m, "iat"); err != nil {
		return refuse(domain.ReasonClaimType, err.Error())
	} else if ok {
		if now.Add(tol).Before(iat) {
			return refuse(domain.ReasonIssuedInFuture, "issued in the future")
		}
		p.IssuedAt = iat
	}

	issuer := *v.issuer.Load()
	iss, hasIss, err := stringMember(m, "iss")
	switch {
	case err != nil:
		return refuse(domain.ReasonClaimType, err.Error())
	case hasIss && issuer != "" && iss != issuer:
		return refuse(domain.ReasonIssuer, `"iss" is not the configured issuer`)
	case hasIss:
		p.Issuer = iss
	default:
		p.Issuer = issuer
	}

	// RFC 9068 §4 asks a resource server to refuse an access token whose
	// aud does not name it; an answer without aud says nothing of whom the
	// token is for (oidc-provider answers so for refresh tokens), so it is
	// refused as a JWT without aud is, and an empty one likewise.
	switch a := m["aud"].(type) {
	case nil:
		if _, present := m["aud"]; present {
			return refuse(domain.ReasonClaimType, `"aud" is null`)
		}
	case string:
		p.Audiences = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return refuse(domain.ReasonClaimType, `"aud" has a non-string element`)
			}
			p.Audiences = append(p.Audiences, s)
		}
	default:
		return refuse(domain.ReasonClaimType, `"aud" is not a string or an array`)
	}
	switch {
	case !slices.ContainsFunc(p.Audiences, func(a string) bool { return a != "" }):
		return refuse(domain.ReasonMissingClaim, `no "aud": the answer does not say whom the token is for`)
	case !slices.ContainsFunc(p.Audiences, func(a string) bool { return slices.Contains(v.cfg.Audiences, a) }):
		return refuse(domain.ReasonAudience, "no accepted audience")
	}

	var scope string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"sub", &p.Subject}, {"client_id", &p.ClientID}, {"scope", &scope}, {"username", new(string)}, {"jti", new(string)}} {
		if *f.dst, _, err = stringMember(m, f.name); err != nil {
			return refuse(domain.ReasonClaimType, err.Error())
		}
	}
	if _, present := m["sub"]; present && p.Subject == "" {
		return refuse(domain.ReasonClaimType, `"sub" is empty`)
	}
	p.Scopes = strings.Fields(scope)
	// How the user logged in, for step-up policies, where RFC 9068 puts
	// it in a JWT (oidc-provider's answers carry these for user tokens).
	if p.ACR, p.AMR, p.AuthTime, err = jwtverify.Login(m, []string{"acr"}, []string{"amr"}, []string{"auth_time"}); err != nil {
		return refuse(domain.ReasonClaimType, err.Error())
	}
	for _, path := range v.cfg.RolesClaims {
		roles, err := rolesAt(m, path)
		if err != nil {
			return refuse(domain.ReasonClaimType, err.Error())
		}
		p.Roles = append(p.Roles, roles...)
	}
	p.Claims = m
	return p, e, nil
}

// accessTokenType reports whether an answer's token_type says the token
// is an access token. RFC 7662 §2.2 defines token_type as the OAuth
// access token type (RFC 6749 §7.1, case-insensitive): Bearer, or DPoP
// (RFC 9449; its cnf.jkt is checked above). Some servers write a token
// type hint there instead (RFC 7009 §2.1, RFC 8693 §3): "access_token" and
// its URI name an access token too, used as a bearer token unless cnf
// binds it. Everything else is refused: "refresh_token", "id_token",
// "N_A" (RFC 8693 §2.2.1: the token is not an access token), "PoP" and
// "mac" (bindings nothing here checks), and names nobody registered.
func accessTokenType(tt string) bool {
	for _, ok := range []string{"Bearer", "DPoP", "access_token", "urn:ietf:params:oauth:token-type:access_token"} {
		if strings.EqualFold(tt, ok) {
			return true
		}
	}
	return false
}

// stringMember returns member name, whether it is present, and an error
// if it is present but not a string.
func stringMember(m map[string]any, name string) (string, bool, error) {
	v, ok := m[name]
	if !ok {
		return "", false, nil
	}
	s, isString := v.(string)
	if !isString {
		return "", true, fmt.Errorf("%q is not a string", name)
	}
	return s, true, nil
}

// timeMember returns member name, seconds since the epoch, as a time.
func timeMember(m map[string]any, name string) (time.Time, bool, error) {
	v, ok := m[name]
	if !ok {
		return time.Time{}, false, nil
	}
	f, isNumber := v.(float64)
	if !isNumber || f < 0 || f > math.MaxInt32*100 {
		return time.Time{}, true, fmt.Errorf("%q is not a time in seconds", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// rolesAt reads roles at a member name or dot path: an array of strings or
// one string. Absent is no roles.
func rolesAt(m map[string]any, path string) ([]string, error) {
	v, ok := domain.LookupClaim(m, path)
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
				return nil, fmt.Errorf("roles member %q has a non-string element", path)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("roles member %q is not a string or an array", path)
}
