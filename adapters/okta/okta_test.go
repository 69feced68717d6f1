package okta_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/okta"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

// Tokens below are shaped as Okta's custom authorization servers issue
// them: header {kid, alg} (no typ); an access token's payload has "ver":1,
// "jti":"AT.…", iss, aud, iat, exp, "cid" (the client), "uid" (the user's
// Okta ID), "scp" as an array, auth_time, sub (the user's login) and the
// custom claims the server adds, here a Groups claim named "groups".

const client = "0oa1b2c3d4e5f6g7h8i9"

func accessClaims(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
		"ver": 1, "jti": "AT.MNAoEQ_jbKqoinrQo1D0XKjMX28U5d7ZszBceot7-Ts", "iss": iss.URL, "aud": okta.DefaultAudience,
		"sub": sub, "cid": client, "uid": "00u1a2b3c4d5e6f7g8h9", "scp": append([]string{}, scopes...),
		"auth_time": time.Now().Add(-time.Minute).Unix(), "groups": []string{"Everyone", "admins"},
	}, ttl)
}

// idClaims is the ID token Okta issues beside it: aud is the client, no cid.
func idClaims(iss *jwtverifytest.Issuer) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
		"sub": "00u1a2b3c4d5e6f7g8h9", "name": "Alice", "email": "alice@example.com", "ver": 1, "iss": iss.URL,
		"aud": client, "jti": "ID.radCQMOQUmyvcTBmmIL0J6BaS60apUEiC7-vI7pOmkw", "amr": []string{"pwd"},
		"idp": "00o1a2b3c4", "preferred_username": "alice@example.com", "auth_time": time.Now().Unix(), "at_hash": "fPlsvVszI29LU2UhDyJ9vg",
	}, time.Hour)
}

// serviceClaims is a client_credentials token: sub is the client, no uid.
func serviceClaims(iss *jwtverifytest.Issuer) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
		"ver": 1, "jti": "AT.x1", "iss": iss.URL, "aud": okta.DefaultAudience, "sub": "0oaservice1", "cid": "0oaservice1",
		"scp": []string{"read:messages"},
	}, time.Hour)
}

func sign(t *testing.T, iss *jwtverifytest.Issuer, c map[string]any) string {
	h := map[string]any{"kid": iss.Key.KID, "alg": "RS256"}
	return jwtverifytest.Sign(t, iss.Key, h, c)
}

// server starts an issuer at /oauth2/<id> and the config pointing at it.
func server(t *testing.T, id string) (*jwtverifytest.Issuer, okta.Config) {
	iss := jwtverifytest.NewIssuerAt(t, "/oauth2/"+id)
	cfg := okta.Config{Domain: iss.Server.URL, Options: jwtverify.Options{ClockTolerance: 5 * time.Second}}
	if id != okta.DefaultAuthServer {
		cfg.AuthServer = id
	}
	return iss, cfg
}

func start(t *testing.T, cfg okta.Config) *okta.Verifier {
	t.Helper()
	v, cleanup, err := okta.New(context.Background(), cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	jwtverifytest.WaitReady(t, v)
	return v
}

func TestContract(t *testing.T) {
	iss, cfg := server(t, okta.DefaultAuthServer)
	v := start(t, cfg)
	verifiertest.Run(t, verifiertest.Harness{
		Verifier: v, Issuer: iss.URL, Audience: okta.DefaultAudience,
		Mint: func(t *testing.T, g verifiertest.Grant) string {
			return sign(t, iss, accessClaims(iss, g.Subject, g.Scopes, g.TTL))
		},
	})
}

func TestAccessToken(t *testing.T) {
	iss, cfg := server(t, okta.DefaultAuthServer)
	v := start(t, cfg)
	p, err := v.Verify(context.Background(), sign(t, iss, accessClaims(iss, "alice@example.com", []string{"openid", "read:messages"}, time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Scopes, []string{"openid", "read:messages"}) || !slices.Equal(p.Roles, []string{"Everyone", "admins"}) || p.ClientID != client {
		t.Errorf("scopes %q roles %q client %q", p.Scopes, p.Roles, p.ClientID)
	}
	uid, _ := p.Claim("uid")
	if s, ok := uid.(string); !ok || s != "00u1a2b3c4d5e6f7g8h9" {
		t.Errorf("uid claim: got %v", uid)
	}
	if p, err := v.Verify(context.Background(), sign(t, iss, serviceClaims(iss))); err != nil || p.ClientID != "0oaservice1" || !p.HasScope("read:messages") {
		t.Errorf("client_credentials token: got %+v, %v", p, err)
	}
	for _, tc := range []struct {
		name   string
		claims func() map[string]any
		want   domain.Reason
	}{
		{"the SPA's ID token", func() map[string]any { return idClaims(iss) }, domain.ReasonAudience},
		{"another audience", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			c["aud"] = "api://other"
			return c
		}, domain.ReasonAudience},
		{"no cid", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			delete(c, "cid")
			return c
		}, domain.ReasonType},
		{"cid a number", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			c["cid"] = 7
			return c
		}, domain.ReasonClaimType},
		{"scp with a number", func() map[string]any {
			c := accessClaims(iss, "s", []string{"a"}, time.Hour)
			c["scp"] = []any{"a", 1}
			return c
		}, domain.ReasonClaimType},
		{"the org authorization server's token", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			c["iss"] = iss.Server.URL
			return c
		}, domain.ReasonIssuer},
		{"another authorization server's token", func() map[string]any {
			c := accessClaims(iss, "s", nil, time.Hour)
			c["iss"] = iss.Server.URL + "/oauth2/aus9z8y7x6w5v4u3t2s1"
			return c
		}, domain.ReasonIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), sign(t, iss, tc.claims()))
			if got := jwtverifytest.Reason(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// Even an API configured with the client's ID as audience refuses the ID
// token: it has no cid.
func TestIDTokenRefusedWhateverTheAudience(t *testing.T) {
	iss, cfg := server(t, okta.DefaultAuthServer)
	cfg.Audiences = []string{client}
	v := start(t, cfg)
	_, err := v.Verify(context.Background(), sign(t, iss, idClaims(iss)))
	if got := jwtverifytest.Reason(t, err); got != domain.ReasonType {
		t.Errorf("ID token: got %q (%v), want %q", got, err, domain.ReasonType)
	}
}

func TestCustomAuthServer(t *testing.T) {
	iss, cfg := server(t, "aus1a2b3c4d5e6f7g8h9")
	cfg.Audiences = []string{"https://api.example.com"}
	cfg.RolesClaims = []string{"app_roles"}
	v := start(t, cfg)
	c := accessClaims(iss, "s", nil, time.Hour)
	c["aud"] = "https://api.example.com"
	c["app_roles"] = []string{"editor"}
	p, err := v.Verify(context.Background(), sign(t, iss, c))
	if err != nil || !slices.Equal(p.Roles, []string{"Everyone", "admins", "editor"}) {
		t.Errorf("got %q, %v", p.Roles, err)
	}
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		env    map[string]string
		issuer string
	}{
		{map[string]string{"OKTA_DOMAIN": "dev-123456.okta.com"}, "https://dev-123456.okta.com/oauth2/default"},
		{map[string]string{"OKTA_DOMAIN": "https://id.example.com/", "OKTA_AUTH_SERVER": "aus1a2b3c4", "AUDIENCE": "api://x"}, "https://id.example.com/oauth2/aus1a2b3c4"},
	} {
		c, err := okta.Load(jwtverifytest.Env(tc.env), jwtverify.Options{})
		if err != nil || c.Issuer() != tc.issuer {
			t.Errorf("%v: got issuer %q, %v; want %q", tc.env, c.Issuer(), err, tc.issuer)
		}
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no domain", map[string]string{}, "OKTA_DOMAIN is required for AUTH_PROVIDER=okta"},
		{"a custom server, no domain", map[string]string{"OKTA_AUTH_SERVER": "aus1a2b3c4"}, "OKTA_DOMAIN is required for AUTH_PROVIDER=okta"},
		{"the issuer as domain", map[string]string{"OKTA_DOMAIN": "https://dev-1.okta.com/oauth2/default"}, "OKTA_DOMAIN: "},
		{"the admin domain", map[string]string{"OKTA_DOMAIN": "dev-1-admin.okta.com"}, `OKTA_DOMAIN: "dev-1-admin.okta.com" is the Admin Console's domain`},
		{"http domain", map[string]string{"OKTA_DOMAIN": "http://dev-1.okta.com"}, "OKTA_DOMAIN: "},
		{"a custom server without audience", map[string]string{"OKTA_DOMAIN": "dev-1.okta.com", "OKTA_AUTH_SERVER": "aus1a2b3c4"}, "AUDIENCE is required with OKTA_AUTH_SERVER=aus1a2b3c4"},
		{"a server ID with a slash", map[string]string{"OKTA_DOMAIN": "dev-1.okta.com", "OKTA_AUTH_SERVER": "a/b", "AUDIENCE": "x"}, "OKTA_AUTH_SERVER: "},
		{"an issuer", map[string]string{"OKTA_DOMAIN": "dev-1.okta.com", "ISSUER_BASE_URL": "https://dev-1.okta.com/oauth2/default"}, "ISSUER_BASE_URL is set, but AUTH_PROVIDER=okta derives the issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := okta.Load(jwtverifytest.Env(tc.env), jwtverify.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
