package domain_test

import (
	"fmt"
	"testing"

	"github.com/example/spaapi/domain"
)

func TestScopeSets(t *testing.T) {
	admin := domain.AnyRole("admin")
	tests := []struct {
		name   string
		policy domain.Policy
		want   string
		exact  bool
	}{
		{"all", domain.AllScopes("a", "b"), "[[a b]]", true},
		{"any", domain.AnyScope("a", "b"), "[[a] [b]]", true},
		{"permissions", domain.AnyPermission("p", "q"), "[[p] [q]]", true},
		{"and", domain.And(domain.AnyScope("a", "b"), domain.AllScopes("c")), "[[a c] [b c]]", true},
		{"and repeats a scope once", domain.And(domain.AllScopes("a"), domain.AnyScope("a", "b")), "[[a] [a b]]", true},
		{"or", domain.Or(domain.AllScopes("a", "b"), domain.AllScopes("c")), "[[a b] [c]]", true},
		{"role", admin, "[[]]", false},
		{"scope and role", domain.And(domain.AllScopes("a"), admin), "[[a]]", false},
		{"scope or role", domain.Or(domain.AllScopes("a"), admin), "[[a] []]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sets, exact := domain.ScopeSets(tt.policy)
			if got := fmt.Sprint(sets); got != tt.want || exact != tt.exact {
				t.Errorf("got %s (exact %v), want %s (exact %v)", got, exact, tt.want, tt.exact)
			}
		})
	}
}
