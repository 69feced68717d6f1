package auth0

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/example/spaapi/adapters/jwtverify"

	"github.com/example/spaapi/domain"
)

// The identity providers, chosen by Config.Provider (AUTH_PROVIDER). Each
// turns its provider's tokens into the same domain.Principal; what differs
// is where keys come from, which "iss" and "aud" are expected, extra
// checks, and where scopes, roles and the client are found.
const (
	// ProviderAuth0: Auth0 tenants. "scope" string, RBAC "permissions",
	// roles from a namespaced custom claim (RolesClaims).
	ProviderAuth0 = "auth0"
	// ProviderOIDC: any discovery-capable issuer (Okta, Keycloak, Google,
	// ...). "scope" string or "scp" string or array; roles from claim
	// paths such as Keycloak's realm_access.roles or Okta's groups.
	ProviderOIDC = "oidc"
	// ProviderCognito: Amazon Cognito user pools. Access tokens have no
	// "aud": "client_id" must be a configured app client and "token_use"
	// must be "access". Roles from cognito:groups.
	ProviderCognito = "cognito"
	// ProviderEntra: Microsoft Entra ID. v1 and v2 issuers of one tenant;
	// "aud" the application ID URI or client ID; scopes from "scp",
	// app roles from "roles" (app-only tokens have no "scp").
	ProviderEntra = "entra"
	// ProviderStatic: keys from a PEM, JWK or JWKS file; no network at all.
	ProviderStatic = "static"
	// ProviderHS256: shared-secret tokens (HS256, HS384, HS512). The
	// secret is never mixed with public keys.
	ProviderHS256 = "hs256"
)

// Providers lists every provider name.
var Providers = []string{ProviderAuth0, ProviderOIDC, ProviderCognito, ProviderEntra, ProviderStatic, ProviderHS256}

// CognitoConfig locates a Cognito user pool.
type CognitoConfig struct {
	// UserPoolID, e.g. "eu-west-1_AbCdEf123"; its prefix is the region.
	UserPoolID string
	// Region, if set, must match the pool ID's prefix.
	Region string
	// ClientIDs are the app clients whose access tokens are accepted.
	ClientIDs []string
	// Endpoint replaces https://cognito-idp.REGION.amazonaws.com (tests,
	// private endpoints). The issuer is Endpoint + "/" + UserPoolID.
	Endpoint string
}

// EntraConfig locates a Microsoft Entra ID tenant and the API's app.
type EntraConfig struct {
	// TenantID is the directory (tenant) ID, a GUID.
	TenantID string
	// ClientID is the API's application (client) ID, a GUID. Tokens whose
	// "aud" is it, or the application ID URI (Config.Audiences, default
	// api://CLIENT_ID), are accepted.
	ClientID string
	// Authority replaces https://login.microsoftonline.com (national
	// clouds, tests).
	Authority string
}

// entraV1Issuer is the issuer of Entra v1.0 access tokens.
const entraV1Issuer = "https://sts.windows.net/%s/"

var (
	cognitoPool = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$`)
	guid        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// CheckCognitoPool checks a user pool ID and returns its region.
func CheckCognitoPool(id string) (region string, err error) {
	m := cognitoPool.FindStringSubmatch(id)
	if m == nil {
		return "", fmt.Errorf("%q is not a user pool ID like eu-west-1_AbCdEf123", id)
	}
	return m[1], nil
}

// CheckGUID checks an Entra tenant or client ID.
func CheckGUID(id string) error {
	if !guid.MatchString(id) {
		return fmt.Errorf("%q is not a GUID like 00000000-0000-0000-0000-000000000000 (find it on the app's Overview page)", id)
	}
	return nil
}

// ParseHMACAlgorithms parses the hs256 provider's algorithm list: only
// HS256, HS384 and HS512.
func ParseHMACAlgorithms(list string) ([]string, error) {
	var algs []string
	for a := range strings.SplitSeq(list, ",") {
		a = strings.TrimSpace(a)
		if jwtverify.MinSecretSize(a) == 0 {
			return nil, fmt.Errorf("%q: the hs256 provider verifies only HS256, HS384 and HS512 (case-sensitive)", a)
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	return algs, nil
}

// CheckSecret checks an hs256 secret is long enough for algs (RFC 7518
// §3.2: at least the hash size, 32 bytes for HS256).
func CheckSecret(secret []byte, algs []string) error {
	need := jwtverify.MinSecretSize("HS256")
	for _, a := range algs {
		need = max(need, jwtverify.MinSecretSize(a))
	}
	if len(secret) < need {
		return fmt.Errorf("is %d bytes; %v needs at least %d random bytes", len(secret), algs, need)
	}
	return nil
}

// mapping is where every profile finds scopes, permissions and the client.
func mapping(roles []string) jwtverify.Mapping {
	return jwtverify.Mapping{Scope: "scope", ScopeList: "scp", Permissions: "permissions",
		Clients: []string{"client_id", "azp", "appid", "cid"}, Roles: roles}
}

// issuers describes the configured provider's issuers to the engine.
func (c *Config) issuers() ([]jwtverify.Issuer, error) {
	switch c.Provider {
	case ProviderAuth0, ProviderOIDC, ProviderStatic, ProviderHS256:
		issuers := c.Issuers
		if len(issuers) == 0 {
			issuers = []string{c.IssuerBaseURL}
		}
		roles := c.RolesClaims
		if len(roles) == 0 && c.Provider != ProviderAuth0 {
			roles = []string{"roles"}
		}
		var specs []jwtverify.Issuer
		for _, iss := range issuers {
			spec := jwtverify.Issuer{Name: iss, JWKSURI: c.JWKSURI, Audiences: c.Audiences, Claims: mapping(roles)}
			switch c.Provider {
			case ProviderHS256:
				spec.Secret = c.Secret
			case ProviderStatic:
				keys, err := jwtverify.LoadKeyFile(c.KeyFile, c.Algorithms)
				if err != nil {
					return nil, fmt.Errorf("key file: %w", err)
				}
				spec.Keys = keys
			}
			specs = append(specs, spec)
		}
		return specs, nil

	case ProviderCognito:
		region, _ := CheckCognitoPool(c.Cognito.UserPoolID)
		endpoint := c.Cognito.Endpoint
		if endpoint == "" {
			endpoint = "https://cognito-idp." + region + ".amazonaws.com"
		}
		clients := slices.Clone(c.Cognito.ClientIDs)
		return []jwtverify.Issuer{{
			Name:   strings.TrimSuffix(endpoint, "/") + "/" + c.Cognito.UserPoolID,
			Claims: mapping(append([]string{"cognito:groups"}, c.RolesClaims...)),
			Check: func(claims map[string]any) error {
				if use, _ := claims["token_use"].(string); use != "access" {
					return domain.InvalidToken(domain.ReasonType, errors.New(`cognito: "token_use" is not "access"`))
				}
				if id, _ := claims["client_id"].(string); !slices.Contains(clients, id) {
					return domain.InvalidToken(domain.ReasonAudience, errors.New(`cognito: "client_id" is not a configured app client`))
				}
				return nil
			},
		}}, nil

	case ProviderEntra:
		authority := c.Entra.Authority
		if authority == "" {
			authority = "https://login.microsoftonline.com"
		}
		tenant := strings.ToLower(c.Entra.TenantID)
		v2 := strings.TrimSuffix(authority, "/") + "/" + tenant + "/v2.0"
		v1 := fmt.Sprintf(entraV1Issuer, tenant)
		audiences := c.Audiences
		if len(audiences) == 0 {
			audiences = []string{"api://" + c.Entra.ClientID}
		}
		audiences = append(slices.Clone(audiences), c.Entra.ClientID)
		return []jwtverify.Issuer{{
			Name:      v2,
			AlsoNames: []string{v1},
			Audiences: audiences,
			Claims:    mapping(append([]string{"roles"}, c.RolesClaims...)),
			Check: func(claims map[string]any) error {
				iss, _ := claims["iss"].(string)
				ver, _ := claims["ver"].(string)
				if ver != "" && (iss == v1) != (ver == "1.0") {
					return domain.InvalidToken(domain.ReasonIssuer, fmt.Errorf("entra: ver %q does not match issuer", ver))
				}
				if tid, ok := claims["tid"].(string); ok && !strings.EqualFold(tid, tenant) {
					return domain.InvalidToken(domain.ReasonIssuer, errors.New(`entra: "tid" is another tenant`))
				}
				return nil
			},
		}}, nil
	}
	return nil, fmt.Errorf("provider %q is not one of %s", c.Provider, strings.Join(Providers, ", "))
}

// validateProvider checks the settings the provider needs and refuses
// those it would ignore.
func (c *Config) validateProvider() error {
	if c.Provider == "" {
		c.Provider = ProviderAuth0
	}
	if !slices.Contains(Providers, c.Provider) {
		return fmt.Errorf("provider: %q is not one of %s", c.Provider, strings.Join(Providers, ", "))
	}
	cognitoSet := c.Cognito.UserPoolID != "" || len(c.Cognito.ClientIDs) > 0 || c.Cognito.Region != "" || c.Cognito.Endpoint != ""
	entraSet := c.Entra.TenantID != "" || c.Entra.ClientID != "" || c.Entra.Authority != ""
	switch {
	case cognitoSet && c.Provider != ProviderCognito:
		return fmt.Errorf("cognito settings given, but the provider is %s", c.Provider)
	case entraSet && c.Provider != ProviderEntra:
		return fmt.Errorf("entra settings given, but the provider is %s", c.Provider)
	case c.KeyFile != "" && c.Provider != ProviderStatic:
		return fmt.Errorf("key file given, but the provider is %s (use static)", c.Provider)
	case len(c.Secret) > 0 && c.Provider != ProviderHS256:
		return fmt.Errorf("shared secret given, but the provider is %s (use hs256)", c.Provider)
	}

	issuers := c.Issuers
	if len(issuers) == 0 && c.IssuerBaseURL != "" {
		issuers = []string{c.IssuerBaseURL}
	}
	switch c.Provider {
	case ProviderCognito, ProviderEntra:
		if len(issuers) > 0 || c.JWKSURI != "" {
			return fmt.Errorf("issuer: %s derives the issuer and keys from its own settings; do not set an issuer or JWKS URI", c.Provider)
		}
	default:
		if len(issuers) == 0 {
			return errors.New("issuer: required")
		}
		if len(issuers) > 1 && c.JWKSURI != "" {
			return errors.New("jwks uri: cannot be shared by several issuers")
		}
	}

	switch c.Provider {
	case ProviderAuth0, ProviderOIDC:
		for _, iss := range issuers {
			if err := CheckIssuerURL(iss); err != nil {
				return fmt.Errorf("issuer: %w", err)
			}
		}
	case ProviderStatic, ProviderHS256:
		for _, iss := range issuers {
			if strings.TrimSpace(iss) == "" || strings.ContainsAny(iss, " \t\n") {
				return fmt.Errorf("issuer: %q must be the exact iss of the tokens, without spaces", iss)
			}
		}
		if c.JWKSURI != "" {
			return fmt.Errorf("jwks uri: the %s provider fetches nothing", c.Provider)
		}
	case ProviderCognito:
		region, err := CheckCognitoPool(c.Cognito.UserPoolID)
		if err != nil {
			return fmt.Errorf("cognito user pool id: %w", err)
		}
		if c.Cognito.Region != "" && c.Cognito.Region != region {
			return fmt.Errorf("cognito region: %q, but the user pool %s is in %s", c.Cognito.Region, c.Cognito.UserPoolID, region)
		}
		if len(c.Cognito.ClientIDs) == 0 {
			return errors.New("cognito client ids: at least one app client ID is required (Cognito access tokens carry client_id, not aud)")
		}
		if len(c.Audiences) > 0 {
			return errors.New("audience: Cognito access tokens have no aud; list the app clients in the cognito client ids instead")
		}
		if c.Cognito.Endpoint != "" {
			if _, err := CheckURL(c.Cognito.Endpoint); err != nil {
				return fmt.Errorf("cognito endpoint: %w", err)
			}
		}
	case ProviderEntra:
		if err := CheckGUID(c.Entra.TenantID); err != nil {
			return fmt.Errorf("entra tenant id: %w", err)
		}
		if err := CheckGUID(c.Entra.ClientID); err != nil {
			return fmt.Errorf("entra client id: %w", err)
		}
		if c.Entra.Authority != "" {
			if _, err := CheckURL(c.Entra.Authority); err != nil {
				return fmt.Errorf("entra authority: %w", err)
			}
		}
	}

	switch c.Provider {
	case ProviderAuth0, ProviderOIDC, ProviderStatic, ProviderHS256:
		if len(c.Audiences) == 0 {
			return errors.New("audience: at least one is required")
		}
	}
	for _, a := range c.Audiences {
		if strings.TrimSpace(a) == "" {
			return errors.New("audience: empty value")
		}
	}

	if c.Provider == ProviderHS256 {
		if len(c.Algorithms) == 0 {
			c.Algorithms = []string{"HS256"}
		}
		if _, err := ParseHMACAlgorithms(strings.Join(c.Algorithms, ",")); err != nil {
			return fmt.Errorf("algorithms: %w", err)
		}
		if err := CheckSecret(c.Secret, c.Algorithms); err != nil {
			return fmt.Errorf("secret: %w", err)
		}
		return nil
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{"RS256"}
	}
	if _, err := ParseAlgorithms(strings.Join(c.Algorithms, ",")); err != nil {
		return fmt.Errorf("algorithms: %w", err)
	}
	if c.Provider == ProviderStatic {
		if c.KeyFile == "" {
			return errors.New("key file: required (a PEM, JWK or JWKS file)")
		}
		if _, err := jwtverify.LoadKeyFile(c.KeyFile, c.Algorithms); err != nil {
			return fmt.Errorf("key file: %w", err)
		}
	}
	return nil
}
