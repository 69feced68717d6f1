package keycloak_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/keycloak"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

// Tokens below are shaped as Keycloak issues them: header {alg, typ "JWT",
// kid}; an access token's payload has "typ":"Bearer", "azp" (the client
// that asked), "aud" listing the clients the user holds roles of (here the
// API, demo-api, and Keycloak's own account), realm_access.roles,
// resource_access.<client>.roles, "scope" as one string, session ids and
// the user's profile claims.

func accessClaims(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
		"jti": "d58f5dc8-fd8f-462b-8a19-716f8f83985b", "iss": iss.URL, "aud": []string{"demo-api", "account"},
		"sub": sub, "typ": "Bearer", "azp": "demo-spa", "session_state": "2a88c258-f73a-4103-b862-e1fbd8f4e04e",
		"acr": "1", "allowed-origins": []string{"http://localhost:5173"},
		"realm_access": map[string]any{"roles": []string{"offline_access", "default-roles-demo", "uma_authorization"}},
		"resource_access": map[string]any{
			"demo-api": map[string]any{"roles": []string{"editor"}},
			"account":  map[string]any{"roles": []string{"manage-account", "view-profile"}},
		},
		"scope": strings.Join(append([]string{"openid", "email", "profile"}, scopes...), " "), "sid": "2a88c258-f73a-4103-b862-e1fbd8f4e04e",
		"email_verified": true, "name": "Alice Liddell", "preferred_username": "alice", "given_name": "Alice",
		"family_name": "Liddell", "email": "alice@example.com",
	}, ttl)
}

// idClaims is the ID token Keycloak issues beside it, for the SPA.
func idClaims(iss *jwtverifytest.Issuer) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
		"jti": "1b2c", "iss": iss.URL, "aud": "demo-spa", "sub": "f:1234:alice", "typ": "ID", "azp": "demo-spa",
		"nonce": "n0nce", "session_state": "2a88", "at_hash": "fPlsvVszI29LU2UhDyJ9vg", "acr": "1", "sid": "2a88",
		"email_verified": true, "preferred_username": "alice",
	}, time.Hour)
}

// serviceClaims is a client_credentials token of a service account.
func serviceClaims(iss *jwtverifytest.Issuer) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
		"jti": "trtcc:312ee6", "iss": iss.URL, "aud": "demo-api", "sub": "4c7e0d1a-8a44-4b8e-9f0e-2d6f5e9b1c3a",
		"typ": "Bearer", "azp": "reporting-service", "acr": "1",
		"realm_access":    map[string]any{"roles": []string{"default-roles-demo"}},
		"resource_access": map[string]any{"demo-api": map[string]any{"roles": []string{"reader"}}},
		"scope":           "profile email", "clientHost": "10.0.0.7", "email_verified": false,
		"preferred_username": "service-account-reporting-service", "clientAddress": "10.0.0.7", "client_id": "reporting-service",
	}, time.Hour)
}

func sign(t *testing.T, iss *jwtverifytest.Issuer, c map[string]any) string {
	h := jwtverifytest.Header(iss.Key)
	h["typ"] = "JWT"
	return jwtverifytest.Sign(t, iss.Key, h, c)
}

// realm starts an issuer at /realms/demo (under prefix, for Keycloak
// before 17) and the config pointing at it.
func realm(t *testing.T, prefix string) (*jwtverifytest.Issuer, keycloak.Config) {
	iss := jwtverifytest.NewIssuerAt(t, prefix+"/realms/demo")
	return iss, keycloak.Config{URL: iss.Server.URL + prefix, Realm: "demo", ClientID: "demo-api",
		Options: jwtverify.Options{ClockTolerance: 5 * time.Second}}
}

func start(t *testing.T, cfg keycloak.Config) *keycloak.Verifier {
	t.Helper()
	v, cleanup, err := keycloak.New(context.Background(), cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	jwtverifytest.WaitReady(t, v)
	return v
}

func verifyOK(t *testing.T, v *keycloak.Verifier, tok string) domain.Principal {
	t.Helper()
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return p
}

func TestContract(t *testing.T) {
	iss, cfg := realm(t, "")
	v := start(t, cfg)
	verifiertest.Run(t, verifiertest.Harness{
		Verifier: v, Issuer: iss.URL, Audience: "demo-api",
		Mint: func(t *testing.T, g verifiertest.Grant) string {
			c := accessClaims(iss, g.Subject, g.Scopes, g.TTL)
			c["scope"] = strings.Join(g.Scopes, " ") // the contract wants exactly the granted scopes
			return sign(t, iss, c)
		},
	})
}

func TestAccessToken(t *testing.T) {
	iss, cfg := realm(t, "")
	v := start(t, cfg)
	p := verifyOK(t, v, sign(t, iss, accessClaims(iss, "f:1234:alice", []string{"read:messages"}, time.Hour)))
	// The realm's roles and demo-api's client roles; not account's.
	if want := []string{"offline_access", "default-roles-demo", "uma_authorization", "editor"}; !slices.Equal(p.Roles, want) {
		t.Errorf("roles: got %q, want %q", p.Roles, want)
	}
	if p.ClientID != "demo-spa" || !slices.Equal(p.Scopes, []string{"openid", "email", "profile", "read:messages"}) {
		t.Errorf("client %q scopes %q", p.ClientID, p.Scopes)
	}
	// azp is there for policies too: "only the SPA may call this".
	if err := domain.ClaimEquals("azp", "demo-spa").Check(p); err != nil {
		t.Errorf("ClaimEquals(azp, demo-spa): %v", err)
	}
	if err := domain.ClaimEquals("azp", "other-app").Check(p); err == nil {
		t.Errorf("ClaimEquals(azp, other-app) allowed the SPA's token")
	}
	if p := verifyOK(t, v, sign(t, iss, serviceClaims(iss))); p.ClientID != "reporting-service" || !slices.Equal(p.Roles, []string{"default-roles-demo", "reader"}) {
		t.Errorf("service account: client %q roles %q", p.ClientID, p.Roles)
	}

	for _, tc := range []struct {
		name   string
		claims func() map[string]any
		want   domain.Reason
	}{
		{"Keycloak's default audience only (account)", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			c["aud"] = "account"
			return c
		}, domain.ReasonAudience},
		{"no aud at all (Keycloak omits it when no client is in it)", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			delete(c, "aud")
			return c
		}, domain.ReasonMissingClaim},
		{"a refresh token", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			c["typ"] = "Refresh"
			return c
		}, domain.ReasonType},
		{"typ not a string", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			c["typ"] = 1
			return c
		}, domain.ReasonType},
		{"another realm", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			c["iss"] = iss.Server.URL + "/realms/other"
			return c
		}, domain.ReasonIssuer},
		{"client roles of a number", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			c["resource_access"] = map[string]any{"demo-api": map[string]any{"roles": []any{"editor", 1}}}
			return c
		}, domain.ReasonClaimType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), sign(t, iss, tc.claims()))
			if got := jwtverifytest.Reason(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// The SPA's ID token names the SPA in aud; an API misconfigured with the
// SPA's client ID still refuses it, by its typ.
func TestIDTokenRefused(t *testing.T) {
	iss, cfg := realm(t, "")
	cfg.ClientID = "demo-spa"
	v := start(t, cfg)
	_, err := v.Verify(context.Background(), sign(t, iss, idClaims(iss)))
	if got := jwtverifytest.Reason(t, err); got != domain.ReasonType {
		t.Errorf("ID token: got %q (%v), want %q", got, err, domain.ReasonType)
	}
}

func TestSettingsShapeTheVerifier(t *testing.T) {
	t.Run("Keycloak before 17 under /auth", func(t *testing.T) {
		iss, cfg := realm(t, "/auth")
		if cfg.Issuer() != iss.URL {
			t.Fatalf("issuer: got %q, want %q", cfg.Issuer(), iss.URL)
		}
		v := start(t, cfg)
		verifyOK(t, v, sign(t, iss, accessClaims(iss, "s", nil, time.Hour)))
	})
	t.Run("AUDIENCE replaces the client ID as audience", func(t *testing.T) {
		iss, cfg := realm(t, "")
		cfg.Audiences = []string{"https://api.example.com"}
		v := start(t, cfg)
		c := accessClaims(iss, "s", nil, time.Hour)
		if _, err := v.Verify(context.Background(), sign(t, iss, c)); jwtverifytest.Reason(t, err) != domain.ReasonAudience {
			t.Errorf("aud demo-api with AUDIENCE set: got %v, want wrong_audience", err)
		}
		c["aud"] = []string{"https://api.example.com"}
		if p := verifyOK(t, v, sign(t, iss, c)); !slices.Contains(p.Roles, "editor") {
			t.Errorf("client roles still come from KEYCLOAK_CLIENT_ID: got %q", p.Roles)
		}
	})
	t.Run("a client ID with dots", func(t *testing.T) {
		iss, cfg := realm(t, "")
		cfg.ClientID = "com.example.api"
		v := start(t, cfg)
		c := accessClaims(iss, "s", nil, time.Hour)
		c["aud"] = []string{"com.example.api"}
		c["resource_access"] = map[string]any{"com.example.api": map[string]any{"roles": []string{"publisher"}}}
		if p := verifyOK(t, v, sign(t, iss, c)); !slices.Contains(p.Roles, "publisher") {
			t.Errorf("roles: got %q, want publisher among them", p.Roles)
		}
	})
	t.Run("no client ID: realm roles only", func(t *testing.T) {
		iss, cfg := realm(t, "")
		cfg.ClientID, cfg.Audiences = "", []string{"demo-api"}
		cfg.RolesClaims = []string{"groups"}
		v := start(t, cfg)
		c := accessClaims(iss, "s", nil, time.Hour)
		c["groups"] = []string{"/staff"}
		if p := verifyOK(t, v, sign(t, iss, c)); !slices.Equal(p.Roles, []string{"offline_access", "default-roles-demo", "uma_authorization", "/staff"}) {
			t.Errorf("roles: got %q", p.Roles)
		}
	})
}

func TestLoad(t *testing.T) {
	c, err := keycloak.Load(jwtverifytest.Env(map[string]string{"KEYCLOAK_URL": "https://keycloak.example.com", "KEYCLOAK_REALM": "demo",
		"KEYCLOAK_CLIENT_ID": "demo-api"}), jwtverify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer() != "https://keycloak.example.com/realms/demo" || c.ClientID != "demo-api" || len(c.Audiences) != 0 {
		t.Errorf("got %+v (issuer %s)", c, c.Issuer())
	}
	ok := map[string]string{"KEYCLOAK_URL": "https://keycloak.example.com", "KEYCLOAK_REALM": "demo", "KEYCLOAK_CLIENT_ID": "demo-api"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no URL", with("KEYCLOAK_URL", ""), "KEYCLOAK_URL is required for AUTH_PROVIDER=keycloak"},
		{"nothing at all", map[string]string{}, "KEYCLOAK_URL is required for AUTH_PROVIDER=keycloak"},
		{"only the realm's URL", map[string]string{"KEYCLOAK_URL": "https://keycloak.example.com/realms/demo"}, "KEYCLOAK_URL: "},
		{"no realm", with("KEYCLOAK_REALM", ""), "KEYCLOAK_REALM is required for AUTH_PROVIDER=keycloak"},
		{"the realm's URL", with("KEYCLOAK_URL", "https://keycloak.example.com/realms/demo"), `KEYCLOAK_URL: "https://keycloak.example.com/realms/demo" is a realm's URL; set KEYCLOAK_URL=https://keycloak.example.com and KEYCLOAK_REALM=demo`},
		{"http URL", with("KEYCLOAK_URL", "http://keycloak.example.com"), "KEYCLOAK_URL: "},
		{"realm with a slash", with("KEYCLOAK_REALM", "demo/x"), "KEYCLOAK_REALM: "},
		{"neither audience nor client", with("KEYCLOAK_CLIENT_ID", ""), "AUDIENCE or KEYCLOAK_CLIENT_ID is required"},
		{"an issuer", with("ISSUER_BASE_URL", "https://keycloak.example.com/realms/demo"), "ISSUER_BASE_URL is set, but AUTH_PROVIDER=keycloak derives the issuer"},
		{"a JWKS URI", with("JWKS_URI", "https://keycloak.example.com/certs"), "JWKS_URI is set, but AUTH_PROVIDER=keycloak derives the issuer"},
		{"a bad algorithm", with("TOKEN_SIGNING_ALG", "HS256"), "TOKEN_SIGNING_ALG: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keycloak.Load(jwtverifytest.Env(tc.env), jwtverify.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
