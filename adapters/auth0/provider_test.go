package auth0_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

// Tokens below are shaped after each provider's documentation of its
// access tokens: the claims it sends, their types, and the header.

const (
	cognitoPool   = "us-east-1_AbCdEf123"
	cognitoClient = "7b3kq5ed1fk6sso1jh4ikl1ksa"
	entraTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	entraClient   = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
	entraCaller   = "f3a8c0e1-9c6b-4c4a-8c8f-2f2b8e8f2a11"
)

// startCfg is start with the usual clock tolerance.
func startCfg(t *testing.T, cfg auth0.Config) *auth0.Verifier {
	t.Helper()
	cfg.ClockTolerance = 5 * time.Second
	return start(t, cfg)
}

func lifetime(c map[string]any, ttl time.Duration) map[string]any {
	now := time.Now()
	c["iat"] = now.Add(min(0, 2*ttl)).Unix()
	c["exp"] = now.Add(ttl).Unix()
	return c
}

// keycloakClaims is a Keycloak access token with an audience mapper adding
// the API ("demo-api") next to Keycloak's own "account".
func keycloakClaims(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
	return lifetime(map[string]any{
		"iss": iss.URL, "sub": sub, "aud": []string{"demo-api", "account"}, "typ": "Bearer", "azp": "demo-spa",
		"jti": "4f1d0b9e-8c2e-4bde-9a1f-0f2d7a6c9e11", "session_state": "b4e6", "sid": "b4e6",
		"scope":              strings.Join(scopes, " "),
		"realm_access":       map[string]any{"roles": []string{"offline_access", "admin"}},
		"resource_access":    map[string]any{"demo-api": map[string]any{"roles": []string{"editor"}}, "account": map[string]any{"roles": []string{"view-profile"}}},
		"preferred_username": "alice", "email_verified": true,
	}, ttl)
}

// oktaClaims is an Okta custom authorization server's access token.
func oktaClaims(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
	scp := append([]string{}, scopes...)
	return lifetime(map[string]any{
		"ver": 1, "jti": "AT.kx2_b8xS4Qd2r4VqnvYdK0BlJ8Z5qS2QmB_F", "iss": iss.URL, "aud": "api://default",
		"cid": "0oa1b2c3d4e5f6g7h8i9", "uid": "00u1a2b3c4d5e6f7g8h9", "scp": scp, "auth_time": time.Now().Unix(),
		"sub": sub, "groups": []string{"Everyone", "admins"},
	}, ttl)
}

// cognitoClaims is a Cognito user pool access token: no aud.
func cognitoClaims(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
	return lifetime(map[string]any{
		"sub": sub, "cognito:groups": []string{"admins"}, "iss": iss.URL, "version": 2,
		"client_id": cognitoClient, "origin_jti": "0e1f", "event_id": "5a6b", "token_use": "access",
		"scope": strings.Join(scopes, " "), "auth_time": time.Now().Unix(), "jti": "9c8d", "username": "alice",
	}, ttl)
}

// entraV2Claims is an Entra ID v2.0 access token for the API (aud is its client ID).
func entraV2Claims(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
	return lifetime(map[string]any{
		"aud": entraClient, "iss": iss.URL, "nbf": time.Now().Add(-time.Minute).Unix(), "aio": "E2ZgYJ",
		"azp": entraCaller, "azpacr": "0", "name": "Alice Example", "oid": "b9d6e7a1-0000-4c9e-8f6a-111111111111",
		"preferred_username": "alice@contoso.example", "rh": "0.AAAA", "scp": strings.Join(scopes, " "),
		"sub": sub, "tid": entraTenant, "uti": "Q2ZRz", "ver": "2.0",
	}, ttl)
}

// entraV1Claims is an Entra ID v1.0 access token (aud is the application ID URI).
func entraV1Claims(sub string, scopes []string, ttl time.Duration) map[string]any {
	return lifetime(map[string]any{
		"aud": "api://" + entraClient, "iss": "https://sts.windows.net/" + entraTenant + "/",
		"nbf": time.Now().Add(-time.Minute).Unix(), "acr": "1", "aio": "E2Zg", "amr": []string{"pwd"},
		"appid": entraCaller, "appidacr": "0", "name": "Alice Example", "oid": "b9d6e7a1-0000-4c9e-8f6a-111111111111",
		"scp": strings.Join(scopes, " "), "sub": sub, "tid": entraTenant, "unique_name": "alice@contoso.example", "ver": "1.0",
	}, ttl)
}

func entraIssuer(t *testing.T) *jwtverifytest.Issuer {
	return jwtverifytest.NewIssuerAt(t, "/"+entraTenant+"/v2.0")
}

func entraConfig(iss *jwtverifytest.Issuer) auth0.Config {
	return auth0.Config{Provider: auth0.ProviderEntra, Entra: auth0.EntraConfig{
		TenantID: entraTenant, ClientID: entraClient, Authority: iss.Server.URL}}
}

func cognitoConfig(iss *jwtverifytest.Issuer) auth0.Config {
	return auth0.Config{Provider: auth0.ProviderCognito, Cognito: auth0.CognitoConfig{
		UserPoolID: cognitoPool, ClientIDs: []string{cognitoClient}, Endpoint: iss.Server.URL}}
}

// TestProviderContracts runs the TokenVerifier contract against every
// provider with tokens shaped like that provider's.
func TestProviderContracts(t *testing.T) {
	type shape func(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any
	for _, tc := range []struct {
		name     string
		path     string
		cfg      func(iss *jwtverifytest.Issuer) auth0.Config
		claims   shape
		audience string
		issuer   func(iss *jwtverifytest.Issuer) string
	}{
		{"oidc keycloak", "/realms/demo", func(iss *jwtverifytest.Issuer) auth0.Config {
			return auth0.Config{Provider: auth0.ProviderOIDC, IssuerBaseURL: iss.URL, Audiences: []string{"demo-api"}}
		}, keycloakClaims, "demo-api", nil},
		{"oidc okta", "/oauth2/default", func(iss *jwtverifytest.Issuer) auth0.Config {
			return auth0.Config{Provider: auth0.ProviderOIDC, IssuerBaseURL: iss.URL, Audiences: []string{"api://default"}}
		}, oktaClaims, "api://default", nil},
		{"cognito", "/" + cognitoPool, cognitoConfig, cognitoClaims, "", nil},
		{"entra v2", "/" + entraTenant + "/v2.0", entraConfig, entraV2Claims, entraClient, nil},
		{"entra v1", "/" + entraTenant + "/v2.0", entraConfig,
			func(_ *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
				return entraV1Claims(sub, scopes, ttl)
			}, "api://" + entraClient, func(*jwtverifytest.Issuer) string { return "https://sts.windows.net/" + entraTenant + "/" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := jwtverifytest.NewIssuerAt(t, tc.path)
			v := startCfg(t, tc.cfg(iss))
			want := iss.URL
			if tc.issuer != nil {
				want = tc.issuer(iss)
			}
			verifiertest.Run(t, verifiertest.Harness{
				Verifier: v, Issuer: want, Audience: tc.audience,
				Mint: func(t *testing.T, g verifiertest.Grant) string {
					h := jwtverifytest.Header(iss.Key)
					h["typ"] = "JWT"
					return jwtverifytest.Sign(t, iss.Key, h, tc.claims(iss, g.Subject, g.Scopes, g.TTL))
				},
			})
		})
	}

	t.Run("static", func(t *testing.T) {
		key := jwtverifytest.NewRSAKey(t, "file-key", 2)
		file := writeFile(t, "key.pem", pemPublic(t, key))
		v := startCfg(t, auth0.Config{Provider: auth0.ProviderStatic, IssuerBaseURL: "https://idp.internal.example/",
			Audiences: []string{"https://api.internal.example"}, KeyFile: file})
		verifiertest.Run(t, verifiertest.Harness{
			Verifier: v, Issuer: "https://idp.internal.example/", Audience: "https://api.internal.example",
			Mint: func(t *testing.T, g verifiertest.Grant) string {
				return jwtverifytest.Sign(t, key, jwtverifytest.Header(key), lifetime(map[string]any{
					"iss": "https://idp.internal.example/", "aud": "https://api.internal.example",
					"sub": g.Subject, "scope": strings.Join(g.Scopes, " "),
				}, g.TTL))
			},
		})
	})

	t.Run("hs256", func(t *testing.T) {
		secret := []byte("0123456789abcdef0123456789abcdef")
		v := startCfg(t, auth0.Config{Provider: auth0.ProviderHS256, IssuerBaseURL: "https://legacy.example/",
			Audiences: []string{"legacy-api"}, Secret: secret})
		verifiertest.Run(t, verifiertest.Harness{
			Verifier: v, Issuer: "https://legacy.example/", Audience: "legacy-api",
			Mint: func(t *testing.T, g verifiertest.Grant) string {
				c, _ := json.Marshal(lifetime(map[string]any{"iss": "https://legacy.example/", "aud": "legacy-api",
					"sub": g.Subject, "scope": strings.Join(g.Scopes, " ")}, g.TTL))
				return hmacToken(t, secret, `{"alg":"HS256","typ":"JWT"}`, string(c))
			},
		})
	})
}

func verifyOK(t *testing.T, v *auth0.Verifier, tok string) domain.Principal {
	t.Helper()
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return p
}

func signJWT(t *testing.T, iss *jwtverifytest.Issuer, c map[string]any) string {
	h := jwtverifytest.Header(iss.Key)
	h["typ"] = "JWT"
	return jwtverifytest.Sign(t, iss.Key, h, c)
}

func TestKeycloak(t *testing.T) {
	iss := jwtverifytest.NewIssuerAt(t, "/realms/demo")
	v := startCfg(t, auth0.Config{Provider: auth0.ProviderOIDC, IssuerBaseURL: iss.URL, Audiences: []string{"demo-api"},
		RolesClaims: []string{"realm_access.roles", "resource_access.demo-api.roles"}})
	p := verifyOK(t, v, signJWT(t, iss, keycloakClaims(iss, "f:1234:alice", []string{"read:messages"}, time.Hour)))
	if want := []string{"offline_access", "admin", "editor"}; !slices.Equal(p.Roles, want) {
		t.Errorf("roles: got %q, want %q", p.Roles, want)
	}
	if p.ClientID != "demo-spa" || !p.HasScope("read:messages") {
		t.Errorf("client %q scopes %q", p.ClientID, p.Scopes)
	}
	// Keycloak's default access token is for "account" only: not for this API.
	c := keycloakClaims(iss, "f:1234:alice", nil, time.Hour)
	c["aud"] = "account"
	if _, err := v.Verify(context.Background(), signJWT(t, iss, c)); reasonOf(t, err) != domain.ReasonAudience {
		t.Errorf("aud account only: got %v, want wrong_audience", err)
	}
	c = keycloakClaims(iss, "f:1234:alice", nil, time.Hour)
	c["realm_access"] = map[string]any{"roles": "admin editor"}
	if p := verifyOK(t, v, signJWT(t, iss, c)); !slices.Contains(p.Roles, "admin editor") {
		t.Errorf("a single-string role claim: got %q", p.Roles)
	}
	c["realm_access"] = map[string]any{"roles": []any{"admin", 7}}
	if _, err := v.Verify(context.Background(), signJWT(t, iss, c)); reasonOf(t, err) != domain.ReasonClaimType {
		t.Errorf("roles with a number: got %v, want bad_claim", err)
	}
}

func TestOkta(t *testing.T) {
	iss := jwtverifytest.NewIssuerAt(t, "/oauth2/default")
	v := startCfg(t, auth0.Config{Provider: auth0.ProviderOIDC, IssuerBaseURL: iss.URL, Audiences: []string{"api://default"},
		RolesClaims: []string{"groups"}})
	p := verifyOK(t, v, signJWT(t, iss, oktaClaims(iss, "alice@example.com", []string{"read:messages", "openid"}, time.Hour)))
	if !slices.Equal(p.Scopes, []string{"read:messages", "openid"}) || !slices.Equal(p.Roles, []string{"Everyone", "admins"}) || p.ClientID != "0oa1b2c3d4e5f6g7h8i9" {
		t.Errorf("okta: scopes %q roles %q client %q", p.Scopes, p.Roles, p.ClientID)
	}
	c := oktaClaims(iss, "alice@example.com", nil, time.Hour)
	c["scp"] = []any{"read:messages", false}
	if _, err := v.Verify(context.Background(), signJWT(t, iss, c)); reasonOf(t, err) != domain.ReasonClaimType {
		t.Errorf("scp with a boolean: got %v, want bad_claim", err)
	}
}

func TestCognito(t *testing.T) {
	iss := jwtverifytest.NewIssuerAt(t, "/"+cognitoPool)
	v := startCfg(t, cognitoConfig(iss))
	p := verifyOK(t, v, signJWT(t, iss, cognitoClaims(iss, "0f7a4b2c-1111-4e8e-9c3b-3d2c1b0a9f8e", []string{"read:messages"}, time.Hour)))
	if !slices.Equal(p.Roles, []string{"admins"}) || p.ClientID != cognitoClient || len(p.Audiences) != 0 {
		t.Errorf("cognito: roles %q client %q audiences %q", p.Roles, p.ClientID, p.Audiences)
	}
	for _, tc := range []struct {
		name   string
		change func(c map[string]any)
		want   domain.Reason
	}{
		{"an ID token", func(c map[string]any) { c["token_use"] = "id"; c["aud"] = cognitoClient }, domain.ReasonType},
		{"no token_use", func(c map[string]any) { delete(c, "token_use") }, domain.ReasonType},
		{"another app client", func(c map[string]any) { c["client_id"] = "someoneelse" }, domain.ReasonAudience},
		{"no client_id", func(c map[string]any) { delete(c, "client_id") }, domain.ReasonAudience},
		{"another user pool", func(c map[string]any) { c["iss"] = iss.Server.URL + "/us-east-1_Other" }, domain.ReasonIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cognitoClaims(iss, "0f7a4b2c", nil, time.Hour)
			tc.change(c)
			if _, err := v.Verify(context.Background(), signJWT(t, iss, c)); reasonOf(t, err) != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestEntra(t *testing.T) {
	iss := entraIssuer(t)
	v := startCfg(t, entraConfig(iss))
	p2 := verifyOK(t, v, signJWT(t, iss, entraV2Claims(iss, "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", []string{"Messages.Read", "User.Read"}, time.Hour)))
	p1 := verifyOK(t, v, signJWT(t, iss, entraV1Claims("l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA", []string{"Messages.Read"}, time.Hour)))
	if !slices.Equal(p2.Scopes, []string{"Messages.Read", "User.Read"}) || p2.ClientID != entraCaller {
		t.Errorf("v2: scopes %q client %q", p2.Scopes, p2.ClientID)
	}
	if p1.ClientID != entraCaller || p1.Issuer != "https://sts.windows.net/"+entraTenant+"/" {
		t.Errorf("v1: client %q issuer %q", p1.ClientID, p1.Issuer)
	}
	// An app-only token: app roles, no scp.
	app := entraV2Claims(iss, "8f2b1c3d-app", nil, time.Hour)
	delete(app, "scp")
	app["roles"] = []string{"Messages.ReadAll"}
	if p := verifyOK(t, v, signJWT(t, iss, app)); len(p.Scopes) != 0 || !p.HasRole("Messages.ReadAll") {
		t.Errorf("app-only: scopes %q roles %q", p.Scopes, p.Roles)
	}
	other := "11111111-2222-3333-4444-555555555555"
	for _, tc := range []struct {
		name   string
		claims func() map[string]any
		want   domain.Reason
	}{
		{"v2 issuer of another tenant", func() map[string]any {
			c := entraV2Claims(iss, "s", nil, time.Hour)
			c["iss"] = iss.Server.URL + "/" + other + "/v2.0"
			return c
		}, domain.ReasonIssuer},
		{"v1 issuer of another tenant", func() map[string]any {
			c := entraV1Claims("s", nil, time.Hour)
			c["iss"] = "https://sts.windows.net/" + other + "/"
			return c
		}, domain.ReasonIssuer},
		{"v1 issuer with ver 2.0", func() map[string]any {
			c := entraV1Claims("s", nil, time.Hour)
			c["ver"] = "2.0"
			return c
		}, domain.ReasonIssuer},
		{"tid of another tenant", func() map[string]any {
			c := entraV2Claims(iss, "s", nil, time.Hour)
			c["tid"] = other
			return c
		}, domain.ReasonIssuer},
		{"another API's audience", func() map[string]any {
			c := entraV2Claims(iss, "s", nil, time.Hour)
			c["aud"] = "00000003-0000-0000-c000-000000000000" // Microsoft Graph
			return c
		}, domain.ReasonAudience},
		{"no iss", func() map[string]any {
			c := entraV2Claims(iss, "s", nil, time.Hour)
			delete(c, "iss")
			return c
		}, domain.ReasonIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), signJWT(t, iss, tc.claims())); reasonOf(t, err) != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestAuth0RolesClaim(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	cfg := newConfig(iss)
	cfg.RolesClaims = []string{"https://spaapi.example.com/roles"}
	v := startCfg(t, cfg)
	c := iss.Claims("auth0|alice", "read:messages")
	c["https://spaapi.example.com/roles"] = []string{"admin"}
	c["permissions"] = []string{"read:messages", "delete:messages"}
	p := verifyOK(t, v, iss.Token(c))
	if !slices.Equal(p.Roles, []string{"admin"}) || !p.HasPermission("delete:messages") {
		t.Errorf("roles %q permissions %q", p.Roles, p.Permissions)
	}
}

func pemPublic(t *testing.T, k *jwtverifytest.Key) []byte {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func writeFile(t *testing.T, name string, b []byte) string {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStaticKeyFiles(t *testing.T) {
	key := jwtverifytest.NewRSAKey(t, "file-key", 2)
	ec := jwtverifytest.NewECKey(t, "ec-file", "ES256")
	claims := func() map[string]any {
		return lifetime(map[string]any{"iss": "https://idp.internal.example/", "aud": "api", "sub": "svc"}, time.Hour)
	}
	certPEM := func() []byte {
		tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key.Private)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	jwks := func(keys ...*jwtverifytest.Key) []byte {
		var raws []json.RawMessage
		for _, k := range keys {
			raws = append(raws, k.JWK(t))
		}
		b, _ := json.Marshal(map[string]any{"keys": raws})
		return b
	}
	for _, tc := range []struct {
		name    string
		content []byte
		algs    []string
		tok     func() string
	}{
		{"PEM public key, token naming any kid", pemPublic(t, key), nil, func() string {
			h := jwtverifytest.Header(key)
			h["kid"] = "whatever"
			return jwtverifytest.Sign(t, key, h, claims())
		}},
		{"PEM certificate, token without kid", certPEM(), nil, func() string {
			h := jwtverifytest.Header(key)
			delete(h, "kid")
			return jwtverifytest.Sign(t, key, h, claims())
		}},
		{"one JWK", key.JWK(t), nil, func() string { return jwtverifytest.Sign(t, key, jwtverifytest.Header(key), claims()) }},
		{"JWKS with an EC key", jwks(key, ec), []string{"RS256", "ES256"}, func() string {
			return jwtverifytest.Sign(t, ec, jwtverifytest.Header(ec), claims())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := startCfg(t, auth0.Config{Provider: auth0.ProviderStatic, IssuerBaseURL: "https://idp.internal.example/",
				Audiences: []string{"api"}, KeyFile: writeFile(t, "keys", tc.content), Algorithms: tc.algs})
			verifyOK(t, v, tc.tok())
			other := jwtverifytest.NewRSAKey(t, "file-key", 1)
			if _, err := v.Verify(context.Background(), jwtverifytest.Sign(t, other, jwtverifytest.Header(other), claims())); err == nil {
				t.Errorf("token signed by a key not in the file accepted")
			}
		})
	}
}

func TestHS256(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v := startCfg(t, auth0.Config{Provider: auth0.ProviderHS256, IssuerBaseURL: "https://legacy.example/",
		Audiences: []string{"legacy-api"}, Secret: secret})
	claims := mustJSON(t, lifetime(map[string]any{"iss": "https://legacy.example/", "aud": "legacy-api", "sub": "u1"}, time.Hour))
	verifyOK(t, v, hmacToken(t, secret, `{"alg":"HS256","typ":"JWT"}`, claims))
	for _, tc := range []struct {
		name string
		tok  string
		want domain.Reason
	}{
		{"another secret", hmacToken(t, []byte("ffffffffffffffffffffffffffffffff"), `{"alg":"HS256"}`, claims), domain.ReasonSignature},
		{"HS512 not allowed", hmacToken(t, secret, `{"alg":"HS512"}`, claims), domain.ReasonAlgorithm},
		{"RS256 from a key pair", func() string {
			k := jwtverifytest.NewRSAKey(t, "k", 0)
			return jwtverifytest.SignRaw(t, k, "RS256", []byte(`{"alg":"RS256"}`), []byte(claims))
		}(), domain.ReasonAlgorithm},
		{"alg none", b64(`{"alg":"none"}`) + "." + b64(claims) + ".c2ln", domain.ReasonAlgorithm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tc.tok); reasonOf(t, err) != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestMultipleIssuers(t *testing.T) {
	a := jwtverifytest.NewIssuer(t)
	b := jwtverifytest.NewIssuer(t)
	b.Key = jwtverifytest.NewRSAKey(t, "key-1", 1) // the same kid as a's key, another key
	b.Publish(b.Key)
	c := jwtverifytest.NewIssuer(t)
	cfg := newConfig(a)
	cfg.IssuerBaseURL, cfg.Issuers = "", []string{a.URL, b.URL}
	v := startCfg(t, cfg)
	ctx := context.Background()

	if p := verifyOK(t, v, a.Token(a.Claims("auth0|from-a"))); p.Issuer != a.URL {
		t.Errorf("issuer a: got %q", p.Issuer)
	}
	if p := verifyOK(t, v, b.Token(b.Claims("auth0|from-b"))); p.Issuer != b.URL {
		t.Errorf("issuer b: got %q", p.Issuer)
	}

	// a's key must not verify a token claiming issuer b, even with a kid
	// b also uses, nor with a kid only a has.
	claimsB := b.Claims("auth0|forged")
	if _, err := v.Verify(ctx, a.Token(claimsB)); reasonOf(t, err) != domain.ReasonSignature {
		t.Errorf("b's claims signed by a's key (shared kid): got %v, want bad_signature", err)
	}
	a2 := jwtverifytest.NewRSAKey(t, "only-a", 2)
	a.Publish(a.Key, a2)
	if _, err := v.Verify(ctx, jwtverifytest.Sign(t, a2, jwtverifytest.Header(a2), claimsB)); reasonOf(t, err) != domain.ReasonUnknownKey {
		t.Errorf("b's claims signed by a key only a has: got %v, want unknown_key", err)
	}

	// Garbage is malformed before any issuer is picked.
	for _, garbage := range []string{"", "invalidToken abc", "a.b", "a.!!!.c", b64("[1]") + "." + b64("[1]") + ".c2ln",
		b64(`{"alg":"RS256"}`) + "." + b64(`{"iss":"https://nobody.example/"}`), // two segments
	} {
		if _, err := v.Verify(ctx, garbage); reasonOf(t, err) != domain.ReasonMalformed {
			t.Errorf("%q with several issuers: got %v, want malformed", garbage, err)
		}
	}
	if _, err := v.Verify(ctx, "e30."+b64(`{"iss":7}`)+".c2ln"); reasonOf(t, err) != domain.ReasonClaimType {
		t.Errorf("iss a number with several issuers: got %v, want bad_claim", err)
	}

	// An unknown issuer is refused before any network fetch.
	hits := a.DiscoveryHits.Load() + a.JWKSHits.Load() + b.DiscoveryHits.Load() + b.JWKSHits.Load()
	for _, tok := range []string{
		c.Token(c.Claims("auth0|c")),
		a.Token(map[string]any{"sub": "x", "aud": jwtverifytest.Audience, "exp": time.Now().Add(time.Hour).Unix()}),
	} {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("unknown or missing issuer: got %v", err)
		}
	}
	if _, err := v.Verify(ctx, c.Token(c.Claims("auth0|c"))); reasonOf(t, err) != domain.ReasonIssuer {
		t.Errorf("unknown issuer: got %v, want wrong_issuer", err)
	}
	if now := a.DiscoveryHits.Load() + a.JWKSHits.Load() + b.DiscoveryHits.Load() + b.JWKSHits.Load(); now != hits {
		t.Errorf("tokens of unknown issuers caused %d fetches", now-hits)
	}
	if c.DiscoveryHits.Load()+c.JWKSHits.Load() != 0 {
		t.Errorf("the unknown issuer was contacted")
	}
}

func TestProviderMisconfiguration(t *testing.T) {
	keyFile := writeFile(t, "key.pem", pemPublic(t, jwtverifytest.NewRSAKey(t, "k", 0)))
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	privFile := writeFile(t, "private.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	weak := writeFile(t, "weak.pem", pemPublic(t, jwtverifytest.NewRSAKeyBits(t, "w", 1024)))
	cognito := auth0.CognitoConfig{UserPoolID: cognitoPool, ClientIDs: []string{"c"}}
	entra := auth0.EntraConfig{TenantID: entraTenant, ClientID: entraClient}
	for _, tc := range []struct {
		name string
		cfg  auth0.Config
		want string
	}{
		{"unknown provider", auth0.Config{Provider: "okta"}, `provider: "okta" is not one of auth0, oidc, cognito, entra, static, hs256`},
		{"cognito without pool", auth0.Config{Provider: "cognito", Cognito: auth0.CognitoConfig{ClientIDs: []string{"c"}}}, "cognito user pool id"},
		{"cognito pool malformed", auth0.Config{Provider: "cognito", Cognito: auth0.CognitoConfig{UserPoolID: "AbCdEf123", ClientIDs: []string{"c"}}}, "is not a user pool ID"},
		{"cognito region mismatch", auth0.Config{Provider: "cognito", Cognito: auth0.CognitoConfig{UserPoolID: cognitoPool, Region: "eu-west-1", ClientIDs: []string{"c"}}}, "is in us-east-1"},
		{"cognito without clients", auth0.Config{Provider: "cognito", Cognito: auth0.CognitoConfig{UserPoolID: cognitoPool}}, "cognito client ids"},
		{"cognito with audience", auth0.Config{Provider: "cognito", Cognito: cognito, Audiences: []string{"a"}}, "have no aud"},
		{"cognito with issuer", auth0.Config{Provider: "cognito", Cognito: cognito, IssuerBaseURL: "https://x/"}, "derives the issuer"},
		{"entra tenant not a GUID", auth0.Config{Provider: "entra", Entra: auth0.EntraConfig{TenantID: "contoso.onmicrosoft.com", ClientID: entraClient}}, "entra tenant id"},
		{"entra without client", auth0.Config{Provider: "entra", Entra: auth0.EntraConfig{TenantID: entraTenant}}, "entra client id"},
		{"entra settings on auth0", auth0.Config{IssuerBaseURL: "https://t.auth0.com/", Audiences: []string{"a"}, Entra: entra}, "entra settings given, but the provider is auth0"},
		{"cognito settings on oidc", auth0.Config{Provider: "oidc", IssuerBaseURL: "https://t/", Audiences: []string{"a"}, Cognito: cognito}, "cognito settings given"},
		{"static without key file", auth0.Config{Provider: "static", IssuerBaseURL: "i", Audiences: []string{"a"}}, "key file: required"},
		{"static with a missing file", auth0.Config{Provider: "static", IssuerBaseURL: "i", Audiences: []string{"a"}, KeyFile: "/nonexistent/keys.pem"}, "no such file"},
		{"static with a private key", auth0.Config{Provider: "static", IssuerBaseURL: "i", Audiences: []string{"a"}, KeyFile: privFile}, "private keys are refused"},
		{"static with a weak key", auth0.Config{Provider: "static", IssuerBaseURL: "i", Audiences: []string{"a"}, KeyFile: weak}, "no usable key"},
		{"static with a JWKS URI", auth0.Config{Provider: "static", IssuerBaseURL: "i", Audiences: []string{"a"}, KeyFile: keyFile, JWKSURI: "https://x/jwks"}, "fetches nothing"},
		{"key file on auth0", auth0.Config{IssuerBaseURL: "https://t.auth0.com/", Audiences: []string{"a"}, KeyFile: keyFile}, "use static"},
		{"hs256 short secret", auth0.Config{Provider: "hs256", IssuerBaseURL: "i", Audiences: []string{"a"}, Secret: []byte("short")}, "secret: is 5 bytes"},
		{"hs256 secret too short for HS512", auth0.Config{Provider: "hs256", IssuerBaseURL: "i", Audiences: []string{"a"}, Secret: make([]byte, 32), Algorithms: []string{"HS512"}}, "needs at least 64"},
		{"hs256 with RS256", auth0.Config{Provider: "hs256", IssuerBaseURL: "i", Audiences: []string{"a"}, Secret: make([]byte, 32), Algorithms: []string{"RS256"}}, "only HS256, HS384 and HS512"},
		{"secret on auth0", auth0.Config{IssuerBaseURL: "https://t.auth0.com/", Audiences: []string{"a"}, Secret: make([]byte, 32)}, "use hs256"},
		{"several issuers, one JWKS", auth0.Config{Issuers: []string{"https://a/", "https://b/"}, Audiences: []string{"a"}, JWKSURI: "https://a/jwks"}, "cannot be shared"},
		{"several issuers, one over http", auth0.Config{Issuers: []string{"https://a/", "http://b.example/"}, Audiences: []string{"a"}}, "must use https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := auth0.New(context.Background(), tc.cfg, quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
