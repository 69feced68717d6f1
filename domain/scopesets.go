package domain

import "slices"

// ScopeSets returns the sets of scopes (or permissions) that satisfy
// policy's scope rules, as alternatives: a principal granted every scope
// of one set passes them. AllScopes("a", "b") is [[a b]], AnyScope("a",
// "b") is [[a] [b]]; And combines its policies' sets (each with each), Or
// lists them all. This is how an OpenAPI document states a route's
// security requirements, which are alternatives of scopes all required.
//
// exact is false when the policy also checks something ScopeSets cannot
// name (roles, claims, Require): the sets are then what the policy's
// scope rules need, and passing them may not be enough.
func ScopeSets(policy Policy) (sets [][]string, exact bool) {
	switch p := policy.(type) {
	case scopeRule:
		if p.anyOf {
			for _, n := range p.names {
				sets = append(sets, []string{n})
			}
			return sets, true
		}
		return [][]string{slices.Clone(p.names)}, true
	case combined:
		exact = true
		if p.anyOf {
			for _, pol := range p.policies {
				s, e := ScopeSets(pol)
				sets = append(sets, s...)
				exact = exact && e
			}
			return sets, exact
		}
		sets = [][]string{{}}
		for _, pol := range p.policies {
			s, e := ScopeSets(pol)
			exact = exact && e
			var product [][]string
			for _, a := range sets {
				for _, b := range s {
					set := slices.Clone(a)
					for _, n := range b {
						if !slices.Contains(set, n) {
							set = append(set, n)
						}
					}
					product = append(product, set)
				}
			}
			sets = product
		}
		return sets, exact
	}
	return [][]string{{}}, false
}
