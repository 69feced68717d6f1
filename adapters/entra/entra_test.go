package entra_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/entra"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

const (
	tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	client = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
	caller = "f3a8c0e1-9c6b-4c4a-8c8f-2f2b8e8f2a11"
)

// v2Claims is an Entra ID v2.0 access token for the API (aud is its client ID).
func v2Claims(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
		"aud": client, "iss": iss.URL, "nbf": time.Now().Add(-time.Minute).Unix(), "aio": "E2ZgYJ",
		"azp": caller, "azpacr": "0", "name": "Alice Example", "oid": "b9d6e7a1-0000-4c9e-8f6a-111111111111",
		"preferred_username": "alice@contoso.example", "rh": "0.AAAA", "scp": strings.Join(scopes, " "),
		"sub": sub, "tid": tenant, "uti": "Q2ZRz", "ver": "2.0",
	}, ttl)
}

// v1Claims is an Entra ID v1.0 access token (aud is the application ID URI).
func v1Claims(sub string, scopes []string, ttl time.Duration) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
		"aud": "api://" + client, "iss": "https://sts.windows.net/" + tenant + "/",
		"nbf": time.Now().Add(-time.Minute).Unix(), "acr": "1", "aio": "E2Zg", "amr": []string{"pwd"},
		"appid": caller, "appidacr": "0", "name": "Alice Example", "oid": "b9d6e7a1-0000-4c9e-8f6a-111111111111",
		"scp": strings.Join(scopes, " "), "sub": sub, "tid": tenant, "unique_name": "alice@contoso.example", "ver": "1.0",
	}, ttl)
}

func newIssuer(t *testing.T) *jwtverifytest.Issuer {
	return jwtverifytest.NewIssuerAt(t, "/"+tenant+"/v2.0")
}

func config(iss *jwtverifytest.Issuer) entra.Config {
	return entra.Config{TenantID: tenant, ClientID: client, Authority: iss.Server.URL,
		Options: jwtverify.Options{ClockTolerance: 5 * time.Second}}
}

func start(t *testing.T, cfg entra.Config) *entra.Verifier {
	t.Helper()
	v, cleanup, err := entra.New(context.Background(), cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	jwtverifytest.WaitReady(t, v)
	return v
}

func signJWT(t *testing.T, iss *jwtverifytest.Issuer, c map[string]any) string {
	h := jwtverifytest.Header(iss.Key)
	h["typ"] = "JWT"
	return jwtverifytest.Sign(t, iss.Key, h, c)
}

func verifyOK(t *testing.T, v *entra.Verifier, tok string) domain.Principal {
	t.Helper()
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return p
}

func TestContracts(t *testing.T) {
	for _, tc := range []struct {
		name, audience string
		issuer         func(iss *jwtverifytest.Issuer) string
		claims         func(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any
	}{
		{"v2", client, func(iss *jwtverifytest.Issuer) string { return iss.URL }, v2Claims},
		{"v1", "api://" + client, func(*jwtverifytest.Issuer) string { return "https://sts.windows.net/" + tenant + "/" },
			func(_ *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
				return v1Claims(sub, scopes, ttl)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := newIssuer(t)
			v := start(t, config(iss))
			verifiertest.Run(t, verifiertest.Harness{
				Verifier: v, Issuer: tc.issuer(iss), Audience: tc.audience,
				Mint: func(t *testing.T, g verifiertest.Grant) string {
					return signJWT(t, iss, tc.claims(iss, g.Subject, g.Scopes, g.TTL))
				},
			})
		})
	}
}

func TestEntra(t *testing.T) {
	iss := newIssuer(t)
	v := start(t, config(iss))
	p2 := verifyOK(t, v, signJWT(t, iss, v2Claims(iss, "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", []string{"Messages.Read", "User.Read"}, time.Hour)))
	p1 := verifyOK(t, v, signJWT(t, iss, v1Claims("l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA", []string{"Messages.Read"}, time.Hour)))
	if !slices.Equal(p2.Scopes, []string{"Messages.Read", "User.Read"}) || p2.ClientID != caller {
		t.Errorf("v2: scopes %q client %q", p2.Scopes, p2.ClientID)
	}
	if p1.ClientID != caller || p1.Issuer != "https://sts.windows.net/"+tenant+"/" {
		t.Errorf("v1: client %q issuer %q", p1.ClientID, p1.Issuer)
	}
	// An app-only token: app roles, no scp.
	app := v2Claims(iss, "8f2b1c3d-app", nil, time.Hour)
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
			c := v2Claims(iss, "s", nil, time.Hour)
			c["iss"] = iss.Server.URL + "/" + other + "/v2.0"
			return c
		}, domain.ReasonIssuer},
		{"v1 issuer of another tenant", func() map[string]any {
			c := v1Claims("s", nil, time.Hour)
			c["iss"] = "https://sts.windows.net/" + other + "/"
			return c
		}, domain.ReasonIssuer},
		{"v1 issuer with ver 2.0", func() map[string]any {
			c := v1Claims("s", nil, time.Hour)
			c["ver"] = "2.0"
			return c
		}, domain.ReasonIssuer},
		{"tid of another tenant", func() map[string]any {
			c := v2Claims(iss, "s", nil, time.Hour)
			c["tid"] = other
			return c
		}, domain.ReasonIssuer},
		{"another API's audience", func() map[string]any {
			c := v2Claims(iss, "s", nil, time.Hour)
			c["aud"] = "00000003-0000-0000-c000-000000000000" // Microsoft Graph
			return c
		}, domain.ReasonAudience},
		{"no iss", func() map[string]any {
			c := v2Claims(iss, "s", nil, time.Hour)
			delete(c, "iss")
			return c
		}, domain.ReasonIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), signJWT(t, iss, tc.claims())); jwtverifytest.Reason(t, err) != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestMisconfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  entra.Config
		want string
	}{
		{"entra tenant not a GUID", entra.Config{TenantID: "contoso.onmicrosoft.com", ClientID: client}, "ENTRA_TENANT_ID"},
		{"entra without client", entra.Config{TenantID: tenant}, "ENTRA_CLIENT_ID"},
		{"entra authority over http", entra.Config{TenantID: tenant, ClientID: client, Authority: "http://login.example/"}, "ENTRA_AUTHORITY: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := entra.New(context.Background(), tc.cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	c, err := entra.Load(jwtverifytest.Env(map[string]string{"ENTRA_TENANT_ID": tenant, "ENTRA_CLIENT_ID": client}), jwtverify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TenantID != tenant || c.ClientID != client || len(c.Audiences) != 0 {
		t.Errorf("got %+v", c)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"tenant by name", map[string]string{"ENTRA_TENANT_ID": "contoso.onmicrosoft.com", "ENTRA_CLIENT_ID": client}, "ENTRA_TENANT_ID: "},
		{"without client", map[string]string{"ENTRA_TENANT_ID": tenant}, "ENTRA_CLIENT_ID: "},
		{"with an issuer", map[string]string{"ENTRA_TENANT_ID": tenant, "ENTRA_CLIENT_ID": client, "ISSUER_BASE_URL": "https://x/"}, "ISSUER_BASE_URL is set, but AUTH_PROVIDER=entra derives the issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := entra.Load(jwtverifytest.Env(tc.env), jwtverify.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

// The issuer is compared byte for byte: Entra's v2.0 and v1.0 issuers are
// checked by the engine's list of accepted names alone (there are two, so
// golang-jwt's WithIssuer is not used), and a look-alike that differs only
// in case or in a trailing slash is another issuer.
func TestIssuerIsMatchedExactly(t *testing.T) {
	iss := newIssuer(t)
	v := start(t, config(iss))
	v1 := "https://sts.windows.net/" + tenant + "/"
	upperTenant := strings.ToUpper(tenant)
	for _, tc := range []struct {
		name   string
		claims func() map[string]any
	}{
		{"v2 tenant in upper case", func() map[string]any {
			c := v2Claims(iss, "s", nil, time.Hour)
			c["iss"] = strings.Replace(iss.URL, tenant, upperTenant, 1)
			return c
		}},
		{"v2 path in other case", func() map[string]any {
			c := v2Claims(iss, "s", nil, time.Hour)
			c["iss"] = strings.Replace(iss.URL, "/v2.0", "/V2.0", 1)
			return c
		}},
		{"v2 scheme and host in upper case", func() map[string]any {
			c := v2Claims(iss, "s", nil, time.Hour)
			c["iss"] = strings.ToUpper(iss.Server.URL) + "/" + tenant + "/v2.0"
			return c
		}},
		{"v2 with a trailing slash", func() map[string]any {
			c := v2Claims(iss, "s", nil, time.Hour)
			c["iss"] = iss.URL + "/"
			return c
		}},
		{"v1 tenant in upper case", func() map[string]any {
			c := v1Claims("s", nil, time.Hour)
			c["iss"] = strings.Replace(v1, tenant, upperTenant, 1)
			return c
		}},
		{"v1 tenant in upper case, no ver", func() map[string]any {
			c := v1Claims("s", nil, time.Hour)
			c["iss"] = strings.Replace(v1, tenant, upperTenant, 1)
			delete(c, "ver")
			return c
		}},
		{"v1 host in upper case, no ver", func() map[string]any {
			c := v1Claims("s", nil, time.Hour)
			c["iss"] = strings.Replace(v1, "sts.windows.net", "STS.WINDOWS.NET", 1)
			delete(c, "ver")
			return c
		}},
		{"v1 without the trailing slash, no ver", func() map[string]any {
			c := v1Claims("s", nil, time.Hour)
			c["iss"] = strings.TrimSuffix(v1, "/")
			delete(c, "ver")
			return c
		}},
		{"v1 with a second trailing slash, no ver", func() map[string]any {
			c := v1Claims("s", nil, time.Hour)
			c["iss"] = v1 + "/"
			delete(c, "ver")
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.claims()
			if _, err := v.Verify(context.Background(), signJWT(t, iss, c)); jwtverifytest.Reason(t, err) != domain.ReasonIssuer {
				t.Errorf("iss %q: got %v, want %s", c["iss"], err, domain.ReasonIssuer)
			}
		})
	}
	// Controls: the exact names, with and without "ver", are accepted.
	for _, c := range []map[string]any{v2Claims(iss, "s", nil, time.Hour), v1Claims("s", nil, time.Hour)} {
		verifyOK(t, v, signJWT(t, iss, c))
		delete(c, "ver")
		verifyOK(t, v, signJWT(t, iss, c))
	}
}
