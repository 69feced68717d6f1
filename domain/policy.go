package domain

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Policy decides whether a principal may do something. Check returns nil to
// allow, or an error to refuse: a *ScopeError when scopes or permissions
// are missing (answered 403 insufficient_scope), a *StepUpError when the
// user's login is not strong or recent enough (answered 401
// insufficient_user_authentication, RFC 9470), a *DeniedError otherwise
// (answered 403 forbidden). All but *StepUpError wrap ErrForbidden.
//
// Routes declare their policy next to their path (adapters/httpapi/routes.go);
// policies compose with And and Or.
type Policy interface {
	Check(p Principal) error
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(p Principal) error

// Check calls f.
func (f PolicyFunc) Check(p Principal) error { return f(p) }

// AllScopes allows principals granted every one of scopes (the "scope"
// claim). With no scopes it allows every principal.
func AllScopes(scopes ...string) Policy { return require(scopes, false, false) }

// AnyScope allows principals granted at least one of scopes.
// With no scopes it allows no one.
func AnyScope(scopes ...string) Policy { return require(scopes, true, false) }

// AllPermissions allows principals holding every one of perms (Auth0 RBAC's
// "permissions" claim).
func AllPermissions(perms ...string) Policy { return require(perms, false, true) }

// AnyPermission allows principals holding at least one of perms.
func AnyPermission(perms ...string) Policy { return require(perms, true, true) }

func require(names []string, anyOf, permissions bool) Policy {
	return scopeRule{names: slices.Clone(names), anyOf: anyOf, permissions: permissions}
}

// scopeRule is the policy AllScopes, AnyScope, AllPermissions and
// AnyPermission return.
type scopeRule struct {
	names              []string
	anyOf, permissions bool
}

func (r scopeRule) Check(p Principal) error {
	has := Principal.HasScope
	if r.permissions {
		has = Principal.HasPermission
	}
	ok := !r.anyOf
	for _, n := range r.names {
		if r.anyOf && has(p, n) {
			ok = true
			break
		}
		if !r.anyOf && !has(p, n) {
			ok = false
			break
		}
	}
	if ok {
		return nil
	}
	return &ScopeError{Scopes: slices.Clone(r.names), Any: r.anyOf, Permissions: r.permissions}
}

func (r scopeRule) scopes() []string { return r.names }

// naming is a policy that can say which scopes (or permissions) it names.
type naming interface{ scopes() []string }

// ScopesOf returns the scopes and permissions policy names (AllScopes,
// AnyScope, AllPermissions and AnyPermission, and And and Or of them),
// each once, in order: what a client may have to be granted to pass it.
// Other policies (roles, claims, Require, a PolicyFunc) name none.
func ScopesOf(policy Policy) []string {
	var out []string
	if n, ok := policy.(naming); ok {
		for _, s := range n.scopes() {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// combined is the policy And and Or return: it names the scopes of the
// policies it combines.
type combined struct {
	policies []Policy
	anyOf    bool // Or; And otherwise (for ScopeSets)
	check    func(Principal) error
}

func (c combined) Check(p Principal) error { return c.check(p) }

func (c combined) scopes() []string {
	var out []string
	for _, p := range c.policies {
		out = append(out, ScopesOf(p)...)
	}
	return out
}

// AnyRole allows principals with at least one of roles.
func AnyRole(roles ...string) Policy {
	roles = slices.Clone(roles)
	return PolicyFunc(func(p Principal) error {
		if slices.ContainsFunc(roles, p.HasRole) {
			return nil
		}
		return &DeniedError{Reason: "requires one of the roles " + strings.Join(roles, ", ")}
	})
}

// AllRoles allows principals with every one of roles.
func AllRoles(roles ...string) Policy {
	roles = slices.Clone(roles)
	return PolicyFunc(func(p Principal) error {
		for _, r := range roles {
			if !p.HasRole(r) {
				return &DeniedError{Reason: "requires the roles " + strings.Join(roles, ", ")}
			}
		}
		return nil
	})
}

// ClaimEquals allows principals whose claim (a name, or a dot path into
// nested objects) is the string want.
func ClaimEquals(claim, want string) Policy {
	return PolicyFunc(func(p Principal) error {
		if v, ok := p.Claim(claim); ok && v == want {
			return nil
		}
		return &DeniedError{Reason: fmt.Sprintf("requires claim %s to be %s", claim, want)}
	})
}

// ClaimIncludes allows principals whose claim is an array containing the
// string want, or is that string.
func ClaimIncludes(claim, want string) Policy {
	return PolicyFunc(func(p Principal) error {
		switch v, _ := p.Claim(claim); v := v.(type) {
		case string:
			if v == want {
				return nil
			}
		case []any:
			if slices.Contains(v, any(want)) {
				return nil
			}
		}
		return &DeniedError{Reason: fmt.Sprintf("requires claim %s to include %s", claim, want)}
	})
}

// Require allows principals for which ok returns true. description says
// what is required, e.g. "an e-mail address at example.com"; it is shown
// to refused callers.
func Require(description string, ok func(p Principal) bool) Policy {
	return PolicyFunc(func(p Principal) error {
		if ok(p) {
			return nil
		}
		return &DeniedError{Reason: "requires " + description}
	})
}

// And allows principals every policy allows; it answers with the first
// refusal.
func And(policies ...Policy) Policy {
	policies = slices.Clone(policies)
	return combined{policies, false, func(p Principal) error {
		for _, pol := range policies {
			if err := pol.Check(p); err != nil {
				return err
			}
		}
		return nil
	}}
}

// Or allows principals any policy allows. When all refuse: if one
// refusal is a *StepUpError, that one (a new login lets the caller
// through); else if every refusal is about scopes (or every one about
// permissions), one *ScopeError naming them all as alternatives;
// otherwise a *DeniedError joining the reasons.
func Or(policies ...Policy) Policy {
	policies = slices.Clone(policies)
	return combined{policies, true, func(p Principal) error {
		var errs []error
		for _, pol := range policies {
			err := pol.Check(p)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			return &DeniedError{Reason: "no policy allows this"}
		}
		for _, err := range errs {
			if su := (*StepUpError)(nil); errors.As(err, &su) {
				return su
			}
		}
		merged := &ScopeError{Any: true}
		var reasons []string
		for i, err := range errs {
			se, isScope := err.(*ScopeError)
			if merged != nil && isScope && (i == 0 || se.Permissions == merged.Permissions) {
				merged.Permissions = se.Permissions
				for _, s := range se.Scopes {
					if !slices.Contains(merged.Scopes, s) {
						merged.Scopes = append(merged.Scopes, s)
					}
				}
			} else {
				merged = nil
			}
			reasons = append(reasons, Describe(err))
		}
		if merged != nil {
			return merged
		}
		return &DeniedError{Reason: strings.Join(reasons, ", or ")}
	}}
}

// Describe returns the client-safe text of a policy refusal.
func Describe(err error) string {
	switch e := err.(type) {
	case *ScopeError:
		return e.Describe()
	case *DeniedError:
		return e.Reason
	case *StepUpError:
		return e.Reason
	}
	return "not allowed"
}
