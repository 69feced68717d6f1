package domain

import "slices"

// Policy decides whether a principal may do something. Check returns nil to
// allow, or an error wrapping ErrForbidden to refuse.
type Policy interface {
	Check(p Principal) error
}

// AllScopes allows principals granted every one of scopes.
// With no scopes it allows every principal.
func AllScopes(scopes ...string) Policy { return allScopes(slices.Clone(scopes)) }

// AnyScope allows principals granted at least one of scopes.
// With no scopes it allows no one.
func AnyScope(scopes ...string) Policy { return anyScope(slices.Clone(scopes)) }

type allScopes []string

func (s allScopes) Check(p Principal) error {
	for _, want := range s {
		if !p.HasScope(want) {
			return &ScopeError{Scopes: slices.Clone(s)}
		}
	}
	return nil
}

type anyScope []string

func (s anyScope) Check(p Principal) error {
	if slices.ContainsFunc(s, p.HasScope) {
		return nil
	}
	return &ScopeError{Scopes: slices.Clone(s), Any: true}
}
