package cognito_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/cognito"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

const (
	pool   = "us-east-1_AbCdEf123"
	client = "7b3kq5ed1fk6sso1jh4ikl1ksa"
)

// claims is a Cognito user pool access token, as AWS documents it: no aud.
func claims(iss *jwtverifytest.Issuer, sub string, scopes []string, ttl time.Duration) map[string]any {
	return jwtverifytest.Lifetime(map[string]any{
		"sub": sub, "cognito:groups": []string{"admins"}, "iss": iss.URL, "version": 2,
		"client_id": client, "origin_jti": "0e1f", "event_id": "5a6b", "token_use": "access",
		"scope": strings.Join(scopes, " "), "auth_time": time.Now().Unix(), "jti": "9c8d", "username": "alice",
	}, ttl)
}

func config(iss *jwtverifytest.Issuer) cognito.Config {
	return cognito.Config{UserPoolID: pool, ClientIDs: []string{client}, Endpoint: iss.Server.URL,
		Options: jwtverify.Options{ClockTolerance: 5 * time.Second}}
}

func start(t *testing.T, cfg cognito.Config) *cognito.Verifier {
	t.Helper()
	v, cleanup, err := cognito.New(context.Background(), cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
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

func TestContract(t *testing.T) {
	iss := jwtverifytest.NewIssuerAt(t, "/"+pool)
	v := start(t, config(iss))
	verifiertest.Run(t, verifiertest.Harness{
		Verifier: v, Issuer: iss.URL, Audience: "",
		Mint: func(t *testing.T, g verifiertest.Grant) string {
			return signJWT(t, iss, claims(iss, g.Subject, g.Scopes, g.TTL))
		},
	})
}

func TestCognito(t *testing.T) {
	iss := jwtverifytest.NewIssuerAt(t, "/"+pool)
	v := start(t, config(iss))
	p, err := v.Verify(context.Background(), signJWT(t, iss, claims(iss, "0f7a4b2c-1111-4e8e-9c3b-3d2c1b0a9f8e", []string{"read:messages"}, time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Roles, []string{"admins"}) || p.ClientID != client || len(p.Audiences) != 0 {
		t.Errorf("cognito: roles %q client %q audiences %q", p.Roles, p.ClientID, p.Audiences)
	}
	for _, tc := range []struct {
		name   string
		change func(c map[string]any)
		want   domain.Reason
	}{
		{"an ID token", func(c map[string]any) { c["token_use"] = "id"; c["aud"] = client }, domain.ReasonType},
		{"no token_use", func(c map[string]any) { delete(c, "token_use") }, domain.ReasonType},
		{"another app client", func(c map[string]any) { c["client_id"] = "someoneelse" }, domain.ReasonAudience},
		{"no client_id", func(c map[string]any) { delete(c, "client_id") }, domain.ReasonAudience},
		{"another user pool", func(c map[string]any) { c["iss"] = iss.Server.URL + "/us-east-1_Other" }, domain.ReasonIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims(iss, "0f7a4b2c", nil, time.Hour)
			tc.change(c)
			if _, err := v.Verify(context.Background(), signJWT(t, iss, c)); jwtverifytest.Reason(t, err) != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestIssuer(t *testing.T) {
	if got, want := (cognito.Config{UserPoolID: "eu-west-1_AbCdEf123"}).Issuer(), "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMisconfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  cognito.Config
		want string
	}{
		{"cognito without pool", cognito.Config{ClientIDs: []string{"c"}}, "COGNITO_USER_POOL_ID"},
		{"cognito pool malformed", cognito.Config{UserPoolID: "AbCdEf123", ClientIDs: []string{"c"}}, "is not a user pool ID"},
		{"cognito region mismatch", cognito.Config{UserPoolID: pool, Region: "eu-west-1", ClientIDs: []string{"c"}}, "is in us-east-1"},
		{"cognito without clients", cognito.Config{UserPoolID: pool}, "COGNITO_CLIENT_IDS"},
		{"cognito endpoint over http", cognito.Config{UserPoolID: pool, ClientIDs: []string{"c"}, Endpoint: "http://cognito.example/"}, "COGNITO_ENDPOINT: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := cognito.New(context.Background(), tc.cfg, jwtverifytest.Quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	c, err := cognito.Load(jwtverifytest.Env(map[string]string{"COGNITO_USER_POOL_ID": "eu-west-1_AbC123", "COGNITO_CLIENT_IDS": "c1,c2",
		"COGNITO_REGION": "eu-west-1", "ROLES_CLAIM": "custom:roles"}), jwtverify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.UserPoolID != "eu-west-1_AbC123" || !slices.Equal(c.ClientIDs, []string{"c1", "c2"}) || c.Region != "eu-west-1" ||
		!slices.Equal(c.RolesClaims, []string{"custom:roles"}) || !slices.Equal(c.Algorithms, []string{"RS256"}) {
		t.Errorf("got %+v", c)
	}
	ok := map[string]string{"COGNITO_USER_POOL_ID": "eu-west-1_AbC123", "COGNITO_CLIENT_IDS": "c"}
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
		{"pool malformed", with("COGNITO_USER_POOL_ID", "AbC123"), "COGNITO_USER_POOL_ID: "},
		{"region mismatch", with("COGNITO_REGION", "us-east-1"), "COGNITO_REGION: "},
		{"without clients", with("COGNITO_CLIENT_IDS", ""), "COGNITO_CLIENT_IDS: "},
		{"empty client item", with("COGNITO_CLIENT_IDS", "a,,b"), "COGNITO_CLIENT_IDS: "},
		{"with an audience", with("AUDIENCE", "a"), "AUDIENCE is set, but Cognito access tokens have no aud"},
		{"with an issuer", with("ISSUER_BASE_URL", "https://x/"), "ISSUER_BASE_URL is set, but AUTH_PROVIDER=cognito derives the issuer"},
		{"with a JWKS URI", with("JWKS_URI", "https://x/jwks"), "JWKS_URI is set, but AUTH_PROVIDER=cognito derives the issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cognito.Load(jwtverifytest.Env(tc.env), jwtverify.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
