package domain_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/example/spaapi/domain"
)

// The shared errors and rules name no resource: what they say comes from
// the resource that uses them.
func TestQuotaErrorNamesTheResourceFromData(t *testing.T) {
	for _, tc := range []struct {
		err  *domain.QuotaError
		want string
	}{
		{&domain.QuotaError{Limit: 5, What: "notes", Room: "delete one of yours (DELETE /api/notes/{id}) to write another"},
			"you keep 5 notes, the most one author may; delete one of yours (DELETE /api/notes/{id}) to write another"},
		{&domain.QuotaError{Limit: 7, Total: true, What: "notes"},
			"the server holds the most notes it may (7); notes must be deleted before more can be added"},
		{&domain.QuotaError{Limit: 3}, "you keep 3 items, the most one author may"},
	} {
		if got := tc.err.Describe(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
		if !errors.Is(tc.err, domain.ErrQuotaExceeded) {
			t.Errorf("%v does not wrap ErrQuotaExceeded", tc.err)
		}
	}
}

func TestCheckTextNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		text, want string
	}{
		{"fine", ""},
		{"", "title is required"},
		{" \t", "title is required"},
		{"abcdefghijk", "title is longer than 10 characters"},
		{"a\x00b", "title contains control characters"},
		{"caf\xe9", "title is not valid UTF-8"},
	} {
		err := domain.CheckText("title", tc.text, 10)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, domain.ErrInvalidInput) {
				t.Errorf("%q: %v does not wrap ErrInvalidInput", tc.text, err)
			}
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestPrincipalIs(t *testing.T) {
	p := domain.Principal{Issuer: "https://one.example/", Subject: "auth0|alice"}
	for _, tc := range []struct {
		iss, sub string
		want     bool
	}{
		{"https://one.example/", "auth0|alice", true},
		{"https://two.example/", "auth0|alice", false},
		{"https://one.example/", "auth0|bob", false},
	} {
		if got := p.Is(tc.iss, tc.sub); got != tc.want {
			t.Errorf("Is(%q, %q): got %v, want %v", tc.iss, tc.sub, got, tc.want)
		}
	}
	if (domain.Principal{Issuer: "https://one.example/"}).Is("https://one.example/", "") {
		t.Errorf("a principal without a subject is someone's owner")
	}
}

// ScopesOf lists what a route's policy asks clients for, so that the
// development issuer can be checked to offer it.
func TestScopesOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy domain.Policy
		want   []string
	}{
		{"one scope", domain.AllScopes("read:notes"), []string{"read:notes"}},
		{"one of two", domain.AnyScope("write:notes", "delete:notes"), []string{"write:notes", "delete:notes"}},
		{"permissions", domain.AnyPermission("delete:notes"), []string{"delete:notes"}},
		{"and, or, each once", domain.And(domain.AllScopes("a", "b"), domain.Or(domain.AnyScope("b", "c"), domain.AnyRole("admin"))), []string{"a", "b", "c"}},
		{"a role names none", domain.AnyRole("admin"), nil},
		{"a function names none", domain.PolicyFunc(func(domain.Principal) error { return nil }), nil},
	} {
		if got := domain.ScopesOf(tc.policy); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
