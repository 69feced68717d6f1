package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Tokens of metadataRouter: one with no scope, one with every scope the
// routes name.
const (
	tokNone = "no-scope"
	tokAll  = "every-scope"
)

// metadataRouter is the whole router with cfg and DPoP in mode.
func metadataRouter(t *testing.T, cfg httpapi.Config, mode app.DPoPMode) http.Handler {
	t.Helper()
	v := fake.New()
	v.Accept(tokNone, domain.Principal{Issuer: "https://issuer.example/", Subject: "none"})
	v.Accept(tokAll, domain.Principal{Issuer: "https://issuer.example/", Subject: "all", Scopes: httpapi.Scopes()})
	metrics, err := httpapi.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	proofs, replay := newProofs(t, nil)
	store := fake.NewMessages()
	stores := ports.Stores{Database: store, Messages: store}
	return httpapi.NewRouter(cfg, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, mode, nil),
		Health:   app.NewHealth(v, stores, replay),
		Messages: app.NewMessages(store, fixtureQuota),
	}, slog.New(slog.DiscardHandler), metrics)
}

func get(h http.Handler, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", target, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// metadataDoc is RFC 9728's document as this API writes it.
type metadataDoc struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name"`
	ResourceDocumentation  string   `json:"resource_documentation"`
	DPoPSigningAlgs        []string `json:"dpop_signing_alg_values_supported"`
	DPoPBoundRequired      *bool    `json:"dpop_bound_access_tokens_required"`
	CertificateBound       *bool    `json:"tls_client_certificate_bound_access_tokens"`
}

func readMetadata(t *testing.T, rec *httptest.ResponseRecorder) (metadataDoc, map[string]any) {
	t.Helper()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("got %d %q %s, want 200 JSON", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var d metadataDoc
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	return d, raw
}

// The metadata names the configured resource, issuers, name and
// documentation, every scope of the route table, header-only bearer
// tokens and the DPoP rules of each mode.
func TestResourceMetadata(t *testing.T) {
	meta := httpapi.ResourceMetadata{
		Resource: "https://api.example.com",
		AuthorizationServers: []httpapi.AuthorizationServer{
			{Issuer: "https://tenant.auth0.com/"}, {Issuer: "https://other.example/"},
		},
		Name: "Example API", Documentation: "https://docs.example.com/api",
	}
	// Every scope some route's policy names, read from the table.
	var want []string
	for _, rt := range httpapi.RouteTable(httpapi.Config{}) {
		if rt.Policy != nil {
			for _, sc := range domain.ScopesOf(rt.Policy) {
				if !slices.Contains(want, sc) {
					want = append(want, sc)
				}
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("no route names a scope: the table looks wrong")
	}
	algs := strings.Fields("ES256 ES384 PS256 RS256 EdDSA Ed25519")
	for _, tc := range []struct {
		mode     app.DPoPMode
		algs     []string
		required bool
	}{
		{app.DPoPAllowed, algs, false},
		{app.DPoPRequired, algs, true},
		{app.DPoPDisabled, nil, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			h := metadataRouter(t, httpapi.Config{Metadata: meta}, tc.mode)
			rec := get(h, "/.well-known/oauth-protected-resource", nil)
			d, raw := readMetadata(t, rec)
			if d.Resource != meta.Resource {
				t.Errorf("resource: got %q, want %q", d.Resource, meta.Resource)
			}
			if got, want := d.AuthorizationServers, []string{"https://tenant.auth0.com/", "https://other.example/"}; !slices.Equal(got, want) {
				t.Errorf("authorization_servers: got %q, want %q", got, want)
			}
			if !slices.Equal(d.ScopesSupported, want) {
				t.Errorf("scopes_supported: got %q, want %q (every scope of the route table)", d.ScopesSupported, want)
			}
			if !slices.Equal(d.BearerMethodsSupported, []string{"header"}) {
				t.Errorf("bearer_methods_supported: got %q, want [header]", d.BearerMethodsSupported)
			}
			if d.ResourceName != meta.Name || d.ResourceDocumentation != meta.Documentation {
				t.Errorf("resource_name, resource_documentation: got %q, %q, want %q, %q", d.ResourceName, d.ResourceDocumentation, meta.Name, meta.Documentation)
			}
			if !slices.Equal(d.DPoPSigningAlgs, tc.algs) {
				t.Errorf("dpop_signing_alg_values_supported: got %q, want %q", d.DPoPSigningAlgs, tc.algs)
			}
			if _, present := raw["dpop_signing_alg_values_supported"]; present != (tc.algs != nil) {
				t.Errorf("dpop_signing_alg_values_supported present: %v, want %v", present, tc.algs != nil)
			}
			if d.DPoPBoundRequired == nil || *d.DPoPBoundRequired != tc.required {
				t.Errorf("dpop_bound_access_tokens_required: got %v, want %v", raw["dpop_bound_access_tokens_required"], tc.required)
			}
			if d.CertificateBound == nil || *d.CertificateBound {
				t.Errorf("tls_client_certificate_bound_access_tokens: got %v, want false (no client certificate reaches the API)", raw["tls_client_certificate_bound_access_tokens"])
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin: got %q, want * (any client may read it)", got)
			}
		})
	}

	t.Run("certificate-bound tokens where client certificates reach the API", func(t *testing.T) {
		m := meta
		m.CertificateBound = true
		d, raw := readMetadata(t, get(metadataRouter(t, httpapi.Config{Metadata: m}, app.DPoPAllowed), "/.well-known/oauth-protected-resource", nil))
		if d.CertificateBound == nil || !*d.CertificateBound {
			t.Errorf("tls_client_certificate_bound_access_tokens: got %v, want true", raw["tls_client_certificate_bound_access_tokens"])
		}
	})

	t.Run("name and documentation left out when not configured", func(t *testing.T) {
		h := metadataRouter(t, httpapi.Config{Metadata: httpapi.ResourceMetadata{Resource: "https://api.example.com"}}, app.DPoPAllowed)
		_, raw := readMetadata(t, get(h, "/.well-known/oauth-protected-resource", nil))
		for _, name := range []string{"resource_name", "resource_documentation", "authorization_servers"} {
			if v, present := raw[name]; present {
				t.Errorf("%s: got %v, want it left out", name, v)
			}
		}
	})
}

// A resource identifier with a path has its metadata at the well-known
// location RFC 9728 §3.1 derives from it too; without a path, only at the
// well-known one.
func TestResourceMetadataLocations(t *testing.T) {
	for _, tc := range []struct {
		resource string
		served   []string
		missing  []string
	}{
		{"https://api.example.com", []string{"/.well-known/oauth-protected-resource"}, []string{"/.well-known/oauth-protected-resource/api"}},
		{"https://api.example.com/", []string{"/.well-known/oauth-protected-resource"}, nil},
		{"http://localhost:8080/api", []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/api"},
			[]string{"/.well-known/oauth-protected-resource/other", "/api/.well-known/oauth-protected-resource"}},
		{"https://example.com/backend/v1", []string{"/.well-known/oauth-protected-resource/backend/v1"}, []string{"/.well-known/oauth-protected-resource/backend"}},
	} {
		h := metadataRouter(t, httpapi.Config{Metadata: httpapi.ResourceMetadata{Resource: tc.resource}}, app.DPoPAllowed)
		for _, path := range tc.served {
			d, _ := readMetadata(t, get(h, path, nil))
			if d.Resource != tc.resource {
				t.Errorf("%s at %s: resource %q, want %q", tc.resource, path, d.Resource, tc.resource)
			}
		}
		for _, path := range tc.missing {
			if rec := get(h, path, nil); rec.Code != 404 {
				t.Errorf("%s: %s got %d, want 404", tc.resource, path, rec.Code)
			}
		}
	}
}

// Without a configured resource identifier, the metadata names the URL
// the request was addressed to, as Config.HTU rebuilds it (PUBLIC_URL,
// or the Host header).
func TestResourceMetadataFromTheRequest(t *testing.T) {
	h := metadataRouter(t, httpapi.Config{}, app.DPoPAllowed)
	req := httptest.NewRequest("GET", "http://api.test:8443/.well-known/oauth-protected-resource", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if d, _ := readMetadata(t, rec); d.Resource != "http://api.test:8443" {
		t.Errorf("resource: got %q, want http://api.test:8443", d.Resource)
	}

	behind := metadataRouter(t, httpapi.Config{HTU: func(r *http.Request) string {
		return "https://example.com/backend" + r.URL.Path // a PUBLIC_URL with a base path
	}}, app.DPoPAllowed)
	if d, _ := readMetadata(t, get(behind, "/.well-known/oauth-protected-resource", nil)); d.Resource != "https://example.com/backend" {
		t.Errorf("resource behind a proxy: got %q, want https://example.com/backend", d.Resource)
	}
}

// Every challenge, Bearer and DPoP, 400, 401 and 403, names the metadata
// as resource_metadata: the well-known location of the resource
// identifier under the URL the request was addressed to.
func TestChallengesNameResourceMetadata(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  httpapi.Config
		want string
	}{
		{"no resource configured", httpapi.Config{}, "http://example.com/.well-known/oauth-protected-resource"},
		{"resource with a path", httpapi.Config{Metadata: httpapi.ResourceMetadata{Resource: "http://example.com/api"}},
			"http://example.com/.well-known/oauth-protected-resource/api"},
		{"behind a proxy with a base path", httpapi.Config{
			HTU:      func(r *http.Request) string { return "https://example.org/backend" + r.URL.Path },
			Metadata: httpapi.ResourceMetadata{Resource: "https://example.org/backend"},
		}, "https://example.org/backend/.well-known/oauth-protected-resource/backend"},
	} {
		for _, mode := range []app.DPoPMode{app.DPoPAllowed, app.DPoPRequired, app.DPoPDisabled} {
			h := metadataRouter(t, tc.cfg, mode)
			for _, req := range []struct {
				what   string
				target string
				header http.Header
				status int
			}{
				{"no credentials", "/api/private", nil, 401},
				{"a refused token", "/api/private", auth("Bearer nonsense"), 401},
				{"a refused DPoP token", "/api/private", http.Header{"Authorization": {"DPoP nonsense"}, "Dpop": {"x"}}, 401},
				{"two Authorization headers", "/api/private", http.Header{"Authorization": {"Bearer a", "Bearer b"}}, 400},
				{"a proof with the Bearer scheme", "/api/private", http.Header{"Authorization": {"Bearer " + tokNone}, "Dpop": {"x"}}, 400},
				{"insufficient scope", "/api/private-scoped", auth("Bearer " + tokNone), 403},
			} {
				rec := get(h, req.target, req.header)
				values := rec.Header().Values("WWW-Authenticate")
				if (rec.Code == 400 || rec.Code == 401 || rec.Code == 403) && len(values) == 0 {
					t.Errorf("%s, %s, %s: %d without a challenge", tc.name, mode, req.what, rec.Code)
				}
				for _, v := range values {
					if !strings.HasSuffix(v, `, resource_metadata="`+tc.want+`"`) {
						t.Errorf("%s, %s, %s: WWW-Authenticate %q, want it to end with resource_metadata=%q", tc.name, mode, req.what, v, tc.want)
					}
					if strings.Count(v, "resource_metadata=") != 1 {
						t.Errorf("%s, %s, %s: WWW-Authenticate %q names resource_metadata more than once", tc.name, mode, req.what, v)
					}
				}
			}
		}
	}
}

// A token without the scopes a route's policy names is refused with 403
// insufficient_scope, and its challenge's scope lists exactly those
// scopes (RFC 6750 §3): for every route of the table.
func TestInsufficientScopeNamesTheRouteScopes(t *testing.T) {
	for _, mode := range []app.DPoPMode{app.DPoPAllowed, app.DPoPDisabled} {
		h := metadataRouter(t, httpapi.Config{}, mode)
		checked := 0
		for _, rt := range httpapi.RouteTable(httpapi.Config{}) {
			if rt.Policy == nil {
				continue
			}
			target := strings.ReplaceAll(rt.Path, "{id}", "0123456789abcdef0123456789abcdef")
			for _, method := range rt.Methods {
				req := httptest.NewRequest(method, target, strings.NewReader(`{"text":"x"}`))
				req.Header.Set("Authorization", "Bearer "+tokNone)
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 403 {
					t.Errorf("%s %s without scopes: got %d, want 403", method, rt.Path, rec.Code)
					continue
				}
				challenge := challengeOf(t, rec.Header())
				_, scope, _ := strings.Cut(challenge, `scope="`)
				scope, _, _ = strings.Cut(scope, `"`)
				got, want := strings.Fields(scope), domain.ScopesOf(rt.Policy)
				slices.Sort(got)
				slices.Sort(want)
				if !strings.Contains(challenge, `error="insufficient_scope"`) || !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s without scopes: challenge %q, want insufficient_scope with scope %q", method, rt.Path, challenge, want)
				}
				checked++
			}
		}
		if checked == 0 {
			t.Fatal("no route with a policy: the table looks wrong")
		}
	}
}

// A resource identifier is an http(s) URL with a host and no user, query,
// fragment or escape in its path (the router matches decoded paths: the
// well-known location of /v%201 would never be found).
func TestCheckResource(t *testing.T) {
	for _, ok := range []string{"https://api.example.com", "http://localhost:8080/api", "https://example.com/backend/v1", "https://api.example.com/a:b@c;d=e"} {
		if err := httpapi.CheckResource(ok); err != nil {
			t.Errorf("%s: %v, want it accepted", ok, err)
		}
	}
	for _, bad := range []string{"spaapi", "urn:example:api", "ftp://api.example.com", "https://", "https://u@api.example.com",
		"https://api.example.com?x=1", "https://api.example.com#f", "https://api.example.com/v%201", "https://api.example.com/a%2Fb", "https://api.example.com/{x}"} {
		if err := httpapi.CheckResource(bad); err == nil {
			t.Errorf("%s: accepted, want an error", bad)
		}
	}
}

// Without a configured resource, a request whose URL cannot be rebuilt
// (no host) gets a 400 that no cache keeps: the next request may name one.
func TestResourceMetadataWithoutAHostIsNotCached(t *testing.T) {
	h := metadataRouter(t, httpapi.Config{}, app.DPoPAllowed)
	req := httptest.NewRequest("GET", "/.well-known/oauth-protected-resource", nil)
	req.Host = ""
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 400 || rec.Header().Get("Cache-Control") == "public, max-age=3600" {
		t.Errorf("no host: got %d, Cache-Control %q; want 400, not publicly cacheable", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if rec := get(h, "/.well-known/oauth-protected-resource", nil); rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=3600" {
		t.Errorf("with a host: got %d, Cache-Control %q; want 200, public, max-age=3600", rec.Code, rec.Header().Get("Cache-Control"))
	}
}
