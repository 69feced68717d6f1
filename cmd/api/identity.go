package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/example/spaapi/adapters/auth0"
)

// identity reads which identity provider to trust and its settings into
// cfg, then checks them as the verifier will, naming the variable at fault.
// With dev, the development issuer fills in the issuer and audience later.
func identity(get getter, cfg *auth0.Config, dev bool, readFile func(string) ([]byte, error)) error {
	provider, from, err := get("auth-provider")
	if err != nil {
		return err
	}
	if provider == "" {
		provider = auth0.ProviderAuth0
	}
	if dev && provider != auth0.ProviderAuth0 {
		return fmt.Errorf("%s is %s, but -dev runs an Auth0-compatible issuer; unset it or drop -dev", from, provider)
	}
	cfg.Provider = provider

	// Settings of other providers are mistakes worth stopping for.
	owners := map[string][]string{
		auth0.ProviderCognito: {"cognito-user-pool-id", "cognito-region", "cognito-client-ids", "cognito-endpoint"},
		auth0.ProviderEntra:   {"entra-tenant-id", "entra-client-id", "entra-authority"},
		auth0.ProviderStatic:  {"key-file"},
		auth0.ProviderHS256:   {"hs256-secret-file", "HS256_SECRET"},
	}
	for owner, names := range owners {
		for _, name := range names {
			if v, from, _ := get(name); v != "" && owner != provider {
				return fmt.Errorf("%s is set, but AUTH_PROVIDER is %s (it belongs to %s)", from, provider, owner)
			}
		}
	}

	switch provider {
	case auth0.ProviderCognito, auth0.ProviderEntra:
		for _, name := range []string{"issuer-base-url", "auth0-domain", "jwks-uri"} {
			if v, from, _ := get(name); v != "" {
				return fmt.Errorf("%s is set, but AUTH_PROVIDER=%s derives the issuer and keys from its own settings; unset it", from, provider)
			}
		}
	default:
		if !dev {
			issuers, err := issuerList(get, provider)
			if err != nil {
				return err
			}
			if len(issuers) == 1 {
				cfg.IssuerBaseURL = issuers[0]
			} else {
				cfg.Issuers = issuers
			}
		}
	}

	aud, audFrom, err := get("audience")
	if err != nil {
		return err
	}
	switch {
	case aud != "" && provider == auth0.ProviderCognito:
		return fmt.Errorf("%s is set, but Cognito access tokens have no aud; list the app clients in COGNITO_CLIENT_IDS", audFrom)
	case aud == "" && !dev && provider != auth0.ProviderCognito && provider != auth0.ProviderEntra:
		return fmt.Errorf("%s is required: set it to your API's identifier (Auth0 dashboard > APIs), e.g. https://api.example.com", audFrom)
	case aud != "":
		if cfg.Audiences, err = list(aud); err != nil {
			return fmt.Errorf("%s: %w", audFrom, err)
		}
	}

	if v, _, err := get("jwks-uri"); err != nil {
		return err
	} else {
		cfg.JWKSURI = v
	}
	if v, from, err := get("roles-claim"); err != nil {
		return err
	} else if v != "" {
		if cfg.RolesClaims, err = list(v); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	}

	algs, algFrom, err := get("token-signing-alg")
	if err != nil {
		return err
	}
	switch {
	case provider == auth0.ProviderHS256 && algs == "":
		algs = "HS256"
	case algs == "":
		algs = "RS256"
	}
	parse := auth0.ParseAlgorithms
	if provider == auth0.ProviderHS256 {
		parse = auth0.ParseHMACAlgorithms
	}
	if cfg.Algorithms, err = parse(algs); err != nil {
		return fmt.Errorf("%s: %w", algFrom, err)
	}

	switch provider {
	case auth0.ProviderCognito:
		cfg.Cognito.UserPoolID, _, _ = get("cognito-user-pool-id")
		cfg.Cognito.Region, _, _ = get("cognito-region")
		cfg.Cognito.Endpoint, _, _ = get("cognito-endpoint")
		if v, from, _ := get("cognito-client-ids"); v != "" {
			if cfg.Cognito.ClientIDs, err = list(v); err != nil {
				return fmt.Errorf("%s: %w", from, err)
			}
		}
	case auth0.ProviderEntra:
		cfg.Entra.TenantID, _, _ = get("entra-tenant-id")
		cfg.Entra.ClientID, _, _ = get("entra-client-id")
		cfg.Entra.Authority, _, _ = get("entra-authority")
	case auth0.ProviderStatic:
		cfg.KeyFile, _, _ = get("key-file")
	case auth0.ProviderHS256:
		secret, _, _ := get("HS256_SECRET")
		file, fileFrom, _ := get("hs256-secret-file")
		switch {
		case secret != "" && file != "":
			return errors.New("HS256_SECRET and HS256_SECRET_FILE are both set; set one of them")
		case file != "":
			b, err := readFile(file)
			if err != nil {
				return fmt.Errorf("%s: %w", fileFrom, err)
			}
			cfg.Secret = []byte(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
		default:
			cfg.Secret = []byte(secret)
		}
	}

	if dev {
		return nil // the issuer and audience come from the development issuer
	}
	return named(cfg.Check())
}

// issuerList resolves ISSUER_BASE_URL (comma-separated for several
// issuers) and, for one Auth0 issuer, its AUTH0_DOMAIN shortcut.
func issuerList(get getter, provider string) ([]string, error) {
	v, from, err := get("issuer-base-url")
	if err != nil {
		return nil, err
	}
	if provider == auth0.ProviderAuth0 && !strings.Contains(v, ",") {
		iss, err := issuer(get)
		return []string{iss}, err
	}
	if dom, domFrom, _ := get("auth0-domain"); dom != "" {
		return nil, fmt.Errorf("%s is set, but it names one Auth0 issuer; with AUTH_PROVIDER=%s or several issuers set ISSUER_BASE_URL alone", domFrom, provider)
	}
	if v == "" {
		return nil, fmt.Errorf("%s is required for AUTH_PROVIDER=%s: the issuer (the exact iss of the tokens)", from, provider)
	}
	issuers, err := list(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return issuers, nil
}

// settingNames maps the verifier's names for settings to the variables.
var settingNames = []struct{ prefix, name string }{
	{"provider: ", "AUTH_PROVIDER: "},
	{"issuer: ", "ISSUER_BASE_URL: "},
	{"audience: ", "AUDIENCE: "},
	{"jwks uri: ", "JWKS_URI: "},
	{"algorithms: ", "TOKEN_SIGNING_ALG: "},
	{"cognito user pool id: ", "COGNITO_USER_POOL_ID: "},
	{"cognito region: ", "COGNITO_REGION: "},
	{"cognito client ids: ", "COGNITO_CLIENT_IDS: "},
	{"cognito endpoint: ", "COGNITO_ENDPOINT: "},
	{"entra tenant id: ", "ENTRA_TENANT_ID: "},
	{"entra client id: ", "ENTRA_CLIENT_ID: "},
	{"entra authority: ", "ENTRA_AUTHORITY: "},
	{"key file: ", "KEY_FILE: "},
	{"secret: ", "HS256_SECRET: "},
}

// named rewrites a verifier configuration error to name the variable.
func named(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range settingNames {
		if strings.HasPrefix(msg, s.prefix) {
			return errors.New(s.name + strings.TrimPrefix(msg, s.prefix))
		}
	}
	return err
}
