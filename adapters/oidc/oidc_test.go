package oidc_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/oidc"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

// Tokens below are shaped after issuers' documentation of their access
// tokens (the claims they send, their types, and the header): the generic
// provider must take them as they come.

// start builds a verifier for cfg, with the usual clock tolerance, and
// waits until its keys are loaded.
func start(t *testing.T, cfg oidc.Config) *oidc.Verifier {
	t.Helper()
	cfg.ClockTolerance = 5 * time.Second
	v, cleanup, err := oidc.New(context.Background(), cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	jwtverifytest.WaitReady(t, v)
	return v
}

// keycloakClaims is a Keycloak access token with an audience mapper adding
// the API ("demo-api") next to Keycloak's own "account".
func keycloakClaims(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
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
	return jwtverifytest.Lifetime(map[string]any{
		"ver": 1, "jti": "AT.kx2_b8xS4Qd2r4VqnvYdK0BlJ8Z5qS2QmB_F", "iss": iss.URL, "aud": "api://default",
		"cid": "0oa1b2c3d4e5f6g7h8i9", "uid": "00u1a2b3c4d5e6f7g8h9", "scp": scp, "auth_time": time.Now().Unix(),
		"sub": sub, "groups": []string{"Everyone", "admins"},
	}, ttl)
}

func signJWT(t *testing.T, iss *jwtverifytest.Issuer, c map[string]any) string {
	h := jwtverifytest.Header(iss.Key)
	h["typ"] = "JWT"
	return jwtverifytest.Sign(t, iss.Key, h, c)
}

func verifyOK(t *testing.T, v *oidc.Verifier, tok string) domain.Principal {
	t.Helper()
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return p
}

// TestContracts runs the TokenVerifier contract with tokens shaped like
// those of two issuers the generic provider is pointed at.
func TestContracts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		path     string
		audience string
		claims   func(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any
	}{
		{"keycloak-shaped", "/realms/demo", "demo-api", keycloakClaims},
		{"okta-shaped", "/oauth2/default", "api://default", oktaClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := jwtverifytest.NewIssuerAt(t, tc.path)
			v := start(t, oidc.Config{Issuers: []string{iss.URL}, Audiences: []string{tc.audience}})
			verifiertest.Run(t, verifiertest.Harness{
				Verifier: v, Issuer: iss.URL, Audience: tc.audience,
				Mint: func(t *testing.T, g verifiertest.Grant) string {
					return signJWT(t, iss, tc.claims(iss, g.Subject, g.Scopes, g.TTL))
				},
			})
		})
	}
}

func TestKeycloakShapedTokens(t *testing.T) {
	iss := jwtverifytest.NewIssuerAt(t, "/realms/demo")
	v := start(t, oidc.Config{Issuers: []string{iss.URL}, Audiences: []string{"demo-api"},
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
	if _, err := v.Verify(context.Background(), signJWT(t, iss, c)); jwtverifytest.Reason(t, err) != domain.ReasonAudience {
		t.Errorf("aud account only: got %v, want wrong_audience", err)
	}
	c = keycloakClaims(iss, "f:1234:alice", nil, time.Hour)
	c["realm_access"] = map[string]any{"roles": "admin editor"}
	if p := verifyOK(t, v, signJWT(t, iss, c)); !slices.Contains(p.Roles, "admin editor") {
		t.Errorf("a single-string role claim: got %q", p.Roles)
	}
	c["realm_access"] = map[string]any{"roles": []any{"admin", 7}}
	if _, err := v.Verify(context.Background(), signJWT(t, iss, c)); jwtverifytest.Reason(t, err) != domain.ReasonClaimType {
		t.Errorf("roles with a number: got %v, want bad_claim", err)
	}
}

func TestOktaShapedTokens(t *testing.T) {
	iss := jwtverifytest.NewIssuerAt(t, "/oauth2/default")
	v := start(t, oidc.Config{Issuers: []string{iss.URL}, Audiences: []string{"api://default"}, RolesClaims: []string{"groups"}})
	p := verifyOK(t, v, signJWT(t, iss, oktaClaims(iss, "alice@example.com", []string{"read:messages", "openid"}, time.Hour)))
	if !slices.Equal(p.Scopes, []string{"read:messages", "openid"}) || !slices.Equal(p.Roles, []string{"Everyone", "admins"}) || p.ClientID != "0oa1b2c3d4e5f6g7h8i9" {
		t.Errorf("okta: scopes %q roles %q client %q", p.Scopes, p.Roles, p.ClientID)
	}
	c := oktaClaims(iss, "alice@example.com", nil, time.Hour)
	c["scp"] = []any{"read:messages", false}
	if _, err := v.Verify(context.Background(), signJWT(t, iss, c)); jwtverifytest.Reason(t, err) != domain.ReasonClaimType {
		t.Errorf("scp with a boolean: got %v, want bad_claim", err)
	}
}

// Without ROLES_CLAIM, roles are in "roles".
func TestDefaultRolesClaim(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v := start(t, oidc.Config{Issuers: []string{iss.URL}, Audiences: []string{jwtverifytest.Audience}})
	c := iss.Claims("s")
	c["roles"] = []string{"admin"}
	if p := verifyOK(t, v, iss.Token(c)); !slices.Equal(p.Roles, []string{"admin"}) {
		t.Errorf("roles: got %q, want [admin]", p.Roles)
	}
}

func TestLoad(t *testing.T) {
	opts := jwtverify.Options{ClockTolerance: time.Second}
	c, err := oidc.Load(jwtverifytest.Env(map[string]string{"ISSUER_BASE_URL": "https://id.example.com/realms/demo", "AUDIENCE": "demo-api",
		"ROLES_CLAIM": "realm_access.roles, groups", "JWKS_URI": "https://id.example.com/keys", "TOKEN_SIGNING_ALG": "ES256"}), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Issuers, []string{"https://id.example.com/realms/demo"}) || !slices.Equal(c.Audiences, []string{"demo-api"}) ||
		!slices.Equal(c.RolesClaims, []string{"realm_access.roles", "groups"}) || c.JWKSURI != "https://id.example.com/keys" ||
		!slices.Equal(c.Algorithms, []string{"ES256"}) || c.ClockTolerance != time.Second {
		t.Errorf("got %+v", c)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no issuer", map[string]string{"AUDIENCE": "a"}, "ISSUER_BASE_URL is required for AUTH_PROVIDER=oidc"},
		{"no audience", map[string]string{"ISSUER_BASE_URL": "https://id.example.com/"}, "AUDIENCE is required"},
		{"http issuer", map[string]string{"ISSUER_BASE_URL": "http://id.example.com/", "AUDIENCE": "a"}, "ISSUER_BASE_URL: "},
		{"several issuers, one JWKS", map[string]string{"ISSUER_BASE_URL": "https://a.example/,https://b.example/", "AUDIENCE": "a", "JWKS_URI": "https://a.example/jwks"}, "JWKS_URI: cannot be shared"},
		{"bad algorithm", map[string]string{"ISSUER_BASE_URL": "https://id.example.com/", "AUDIENCE": "a", "TOKEN_SIGNING_ALG": "none"}, "TOKEN_SIGNING_ALG: "},
		{"empty roles item", map[string]string{"ISSUER_BASE_URL": "https://id.example.com/", "AUDIENCE": "a", "ROLES_CLAIM": "a,"}, "ROLES_CLAIM: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := oidc.Load(jwtverifytest.Env(tc.env), opts)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
