package jwtverify

import (
	"fmt"
	"strings"
)

// Env reads one setting for a provider: by its flag name
// ("issuer-base-url"), or by its variable for a setting without a flag
// ("HS256_SECRET"). It returns the value, trimmed ("" when unset), and the
// name to use in errors: the variable or -flag it came from. cmd/api
// reads flags and the environment this way; tests use a map.
type Env func(name string) (value, from string, err error)

// Setting is one setting a provider owns: cmd/api offers it as a flag
// and an environment variable, and refuses it when another provider is
// chosen. The settings several providers share (ISSUER_BASE_URL,
// AUDIENCE, JWKS_URI, TOKEN_SIGNING_ALG, ROLES_CLAIM and the cache and
// clock settings) belong to cmd/api.
type Setting struct {
	// Flag is the flag name; "" for secrets, which come from the
	// environment only.
	Flag string
	// Var is the environment variable.
	Var string
	// Usage is the flag's help text.
	Usage string
}

// Name is what to ask an Env for: the flag, or the variable when there is
// no flag.
func (s Setting) Name() string {
	if s.Flag != "" {
		return s.Flag
	}
	return s.Var
}

// List splits a comma-separated value, refusing empty items.
func List(s string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("empty item in %q", s)
		}
		out = append(out, item)
	}
	return out, nil
}

// ListSetting reads a comma-separated setting: nil when unset, an error
// naming the setting when an item is empty.
func ListSetting(env Env, name string) (items []string, from string, err error) {
	v, from, err := env(name)
	if err != nil || v == "" {
		return nil, from, err
	}
	if items, err = List(v); err != nil {
		return nil, from, fmt.Errorf("%s: %w", from, err)
	}
	return items, from, nil
}

// Issuers reads ISSUER_BASE_URL, one issuer or several comma-separated,
// for a provider that needs it; provider names the provider in the error
// when it is missing.
func Issuers(env Env, provider string) ([]string, error) {
	issuers, from, err := ListSetting(env, "issuer-base-url")
	if err == nil && len(issuers) == 0 {
		err = fmt.Errorf("%s is required for AUTH_PROVIDER=%s: the issuer (the exact iss of the tokens)", from, provider)
	}
	return issuers, err
}

// Algorithms reads TOKEN_SIGNING_ALG: public-key algorithms, RS256 when
// unset.
func Algorithms(env Env) ([]string, error) {
	v, from, err := env("token-signing-alg")
	if err != nil {
		return nil, err
	}
	if v == "" {
		v = "RS256"
	}
	algs, err := ParseAlgorithms(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return algs, nil
}

// Unset refuses the settings among names that are set, saying why the
// provider does without them: "ISSUER_BASE_URL is set, but <why>; unset it".
func Unset(env Env, why string, names ...string) error {
	for _, name := range names {
		v, from, err := env(name)
		if err != nil {
			return err
		}
		if v != "" {
			return fmt.Errorf("%s is set, but %s; unset it", from, why)
		}
	}
	return nil
}
