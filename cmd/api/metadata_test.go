package main

import (
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/httpapi"
)

// The metadata's resource is the audience when it is one http(s) URL,
// else PUBLIC_URL, else each request's origin; its authorization servers
// are the provider's issuers, with Auth0's fixed endpoints; RESOURCE_NAME
// and RESOURCE_DOCUMENTATION are passed on, and a documentation that is
// not an http(s) URL stops start-up naming the variable.
func TestMetadataSettings(t *testing.T) {
	auth0 := func(iss string) httpapi.AuthorizationServer {
		b := strings.TrimSuffix(iss, "/")
		return httpapi.AuthorizationServer{Issuer: iss, AuthorizationEndpoint: b + "/authorize", TokenEndpoint: b + "/oauth/token"}
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want httpapi.ResourceMetadata
	}{
		{"auth0, a URL audience", map[string]string{"ISSUER_BASE_URL": "https://t.auth0.com/", "AUDIENCE": "https://api.example.com",
			"RESOURCE_NAME": "Example", "RESOURCE_DOCUMENTATION": "https://docs.example.com/api"},
			httpapi.ResourceMetadata{Resource: "https://api.example.com", AuthorizationServers: []httpapi.AuthorizationServer{auth0("https://t.auth0.com/")},
				Name: "Example", Documentation: "https://docs.example.com/api"}},
		{"auth0, two tenants, audience not a URL: PUBLIC_URL", map[string]string{"ISSUER_BASE_URL": "https://a.auth0.com/,https://b.auth0.com/",
			"AUDIENCE": "my-api", "PUBLIC_URL": "https://example.com/backend"},
			httpapi.ResourceMetadata{Resource: "https://example.com/backend",
				AuthorizationServers: []httpapi.AuthorizationServer{auth0("https://a.auth0.com/"), auth0("https://b.auth0.com/")}}},
		{"two audiences, no PUBLIC_URL: each request's origin", map[string]string{"ISSUER_BASE_URL": "https://t.auth0.com/", "AUDIENCE": "https://a.example,https://b.example"},
			httpapi.ResourceMetadata{AuthorizationServers: []httpapi.AuthorizationServer{auth0("https://t.auth0.com/")}}},
		{"oidc: issuers without fixed endpoints", map[string]string{"AUTH_PROVIDER": "oidc", "ISSUER_BASE_URL": "https://id.example.com/", "AUDIENCE": "https://api.example.com/v1"},
			httpapi.ResourceMetadata{Resource: "https://api.example.com/v1", AuthorizationServers: []httpapi.AuthorizationServer{{Issuer: "https://id.example.com/"}}}},
		{"keycloak: the realm's issuer", map[string]string{"AUTH_PROVIDER": "keycloak", "KEYCLOAK_URL": "https://kc.example.com", "KEYCLOAK_REALM": "demo", "KEYCLOAK_CLIENT_ID": "demo-api"},
			httpapi.ResourceMetadata{AuthorizationServers: []httpapi.AuthorizationServer{{Issuer: "https://kc.example.com/realms/demo"}}}},
		{"entra: the tenant's v2.0 issuer", map[string]string{"AUTH_PROVIDER": "entra", "ENTRA_TENANT_ID": "11111111-2222-3333-4444-555555555555", "ENTRA_CLIENT_ID": "66666666-7777-8888-9999-000000000000"},
			httpapi.ResourceMetadata{AuthorizationServers: []httpapi.AuthorizationServer{{Issuer: "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0"}}}},
		{"hs256: tokens from no authorization server", map[string]string{"AUTH_PROVIDER": "hs256", "ISSUER_BASE_URL": "legacy", "AUDIENCE": "api", "HS256_SECRET": strings.Repeat("s", 64)},
			httpapi.ResourceMetadata{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(nil, env(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.metadata.resolve(c.identity, "")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}

	for _, doc := range []string{"docs.example.com", "ftp://docs.example.com", "https://docs.example.com/?q=1"} {
		_, err := loadConfig(nil, env(map[string]string{"ISSUER_BASE_URL": "https://t.auth0.com/", "AUDIENCE": "a", "RESOURCE_DOCUMENTATION": doc}), io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "RESOURCE_DOCUMENTATION: ") {
			t.Errorf("RESOURCE_DOCUMENTATION=%s: got %v, want an error naming RESOURCE_DOCUMENTATION", doc, err)
		}
	}
}

// A resource identifier on another origin than PUBLIC_URL is warned about:
// clients that check the metadata (RFC 9728 §3.3) would discard it.
func TestMetadataOriginWarning(t *testing.T) {
	for _, tc := range []struct {
		resource, publicURL string
		warn                bool
	}{
		{"https://api.example.com", "https://api.example.com", false},
		{"https://api.example.com/v1", "https://api.example.com/backend", false},
		{"https://api.example.com", "", false},
		{"", "https://api.example.com", false},
		{"https://spaapi", "https://api.example.com", true},
		{"http://api.example.com", "https://api.example.com", true},
		{"https://api.example.com:8443", "https://api.example.com", true},
	} {
		got := metadataConfig{publicURL: tc.publicURL}.originWarning(tc.resource)
		if (got != "") != tc.warn {
			t.Errorf("resource %q, PUBLIC_URL %q: warning %q, want one: %v", tc.resource, tc.publicURL, got, tc.warn)
		}
	}
}
