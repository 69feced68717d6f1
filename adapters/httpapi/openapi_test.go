package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// The OpenAPI document is checked three ways: against the OpenAPI 3.1
// specification (kin-openapi, used in tests only), against the route
// table (every route and method, each route's scopes), and against the
// answers the router really gives (every answer of a long series of
// requests, errors included, validated against the document).

// loadOpenAPI fetches /openapi.json from h and loads and validates it.
func loadOpenAPI(t *testing.T, h http.Handler) (*openapi3.T, []byte) {
	t.Helper()
	rec := get(h, "http://example.com/openapi.json", nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("/openapi.json: got %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.Bytes()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("loading /openapi.json: %v", err)
	}
	if doc.OpenAPIMajorMinor() != "3.1" {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("/openapi.json is not a valid OpenAPI 3.1 document: %v", err)
	}
	return doc, body
}

// configs are the routers the document is checked for: each DPoP mode,
// a resource identifier with a path, the SPA, several issuers.
func openAPIConfigs(t *testing.T) map[string]struct {
	cfg  httpapi.Config
	mode app.DPoPMode
} {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	spaApp, err := httpapi.OpenSPA(dir, httpapi.SPASettings{Issuer: "https://tenant.auth0.com/", ClientID: "spa", Audience: "https://api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spaApp.Close() })
	auth0 := httpapi.AuthorizationServer{Issuer: "https://tenant.auth0.com/",
		AuthorizationEndpoint: "https://tenant.auth0.com/authorize", TokenEndpoint: "https://tenant.auth0.com/oauth/token"}
	return map[string]struct {
		cfg  httpapi.Config
		mode app.DPoPMode
	}{
		"bare":              {httpapi.Config{}, app.DPoPAllowed},
		"auth0":             {httpapi.Config{Metadata: httpapi.ResourceMetadata{Resource: "https://api.example.com", AuthorizationServers: []httpapi.AuthorizationServer{auth0}}}, app.DPoPAllowed},
		"DPoP required":     {httpapi.Config{Metadata: httpapi.ResourceMetadata{AuthorizationServers: []httpapi.AuthorizationServer{auth0}}}, app.DPoPRequired},
		"DPoP disabled":     {httpapi.Config{Metadata: httpapi.ResourceMetadata{AuthorizationServers: []httpapi.AuthorizationServer{auth0}}}, app.DPoPDisabled},
		"resource path":     {httpapi.Config{Metadata: httpapi.ResourceMetadata{Resource: "http://example.com/api"}}, app.DPoPAllowed},
		"SPA":               {httpapi.Config{SPA: spaApp}, app.DPoPAllowed},
		"discovered issuer": {httpapi.Config{Metadata: httpapi.ResourceMetadata{Name: "Example", AuthorizationServers: []httpapi.AuthorizationServer{{Issuer: "https://kc.example/realms/r"}, {Issuer: "static-iss"}}}}, app.DPoPAllowed},
	}
}

// The document lists every route of the table with exactly its methods,
// nothing else, and each route's security requirement names the scopes of
// its policy: one requirement per scheme and set of scopes that passes
// it (domain.ScopeSets), none for a public route.
func TestOpenAPIMatchesTheRouteTable(t *testing.T) {
	for name, c := range openAPIConfigs(t) {
		t.Run(name, func(t *testing.T) {
			doc, _ := loadOpenAPI(t, metadataRouter(t, c.cfg, c.mode))
			var schemes []string
			for s := range doc.Components.SecuritySchemes {
				schemes = append(schemes, s)
			}
			if len(schemes) == 0 {
				t.Fatal("no security schemes")
			}
			want := map[string]bool{}
			for _, rt := range httpapi.RouteTable(c.cfg) {
				path := regexp.MustCompile(`\{([^}:]+)(:[^}]+)?\}`).ReplaceAllString(rt.Path, "{$1}")
				for _, m := range rt.Methods {
					want[m+" "+path] = true
					item := doc.Paths.Find(path)
					if item == nil || item.GetOperation(m) == nil {
						t.Errorf("route %s %s: not in the document", m, rt.Path)
						continue
					}
					checkSecurity(t, m+" "+rt.Path, item.GetOperation(m), rt, schemes)
				}
			}
			for path, item := range doc.Paths.Map() {
				for m := range item.Operations() {
					if !want[m+" "+path] {
						t.Errorf("the document names %s %s, which is not a route", m, path)
					}
				}
			}
			// Every scope in a flow is one some route names, and each is there.
			for name, s := range doc.Components.SecuritySchemes {
				if s.Value.Flows == nil {
					continue
				}
				for _, flow := range []*openapi3.OAuthFlow{s.Value.Flows.AuthorizationCode, s.Value.Flows.ClientCredentials} {
					var got []string
					for sc := range flow.Scopes {
						got = append(got, sc)
					}
					want := httpapi.Scopes()
					slices.Sort(got)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Errorf("scheme %s: flow scopes %q, want %q", name, got, want)
					}
				}
			}
		})
	}
}

// checkSecurity compares an operation's security with its route's access.
func checkSecurity(t *testing.T, what string, op *openapi3.Operation, rt httpapi.RouteInfo, schemes []string) {
	t.Helper()
	if !rt.Token {
		if op.Security != nil && len(*op.Security) > 0 {
			t.Errorf("%s: public, but its security is %v", what, *op.Security)
		}
		return
	}
	if op.Security == nil || len(*op.Security) == 0 {
		t.Errorf("%s: needs a token, but the document gives no security", what)
		return
	}
	sets := [][]string{{}}
	if rt.Policy != nil {
		sets, _ = domain.ScopeSets(rt.Policy)
	}
	var want, got []string
	for _, s := range schemes {
		for _, set := range sets {
			sorted := slices.Clone(set)
			slices.Sort(sorted)
			want = append(want, s+" "+strings.Join(sorted, ","))
		}
	}
	for _, req := range *op.Security {
		for s, scopes := range req {
			sorted := slices.Clone(scopes)
			slices.Sort(sorted)
			got = append(got, s+" "+strings.Join(sorted, ","))
		}
		if len(req) != 1 {
			t.Errorf("%s: security requirement %v names %d schemes, want 1", what, req, len(req))
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: security\n got %q\nwant %q", what, got, want)
	}
}

// conformance sends requests through a router and validates each answer
// against the router's own OpenAPI document.
type conformance struct {
	t      *testing.T
	h      http.Handler
	doc    *openapi3.T
	router routers.Router
	seen   map[string]bool // "status error" of every error answer
	ops    map[string]bool // "METHOD template status" of every answer
}

func newConformance(t *testing.T, h http.Handler) *conformance {
	doc, _ := loadOpenAPI(t, h)
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &conformance{t: t, h: h, doc: doc, router: r, seen: map[string]bool{}, ops: map[string]bool{}}
}

// send serves req and validates the answer, which must have status want.
func (c *conformance) send(req *http.Request, want int) *httptest.ResponseRecorder {
	c.t.Helper()
	var body []byte
	if req.Body != nil {
		body, _ = readAll(req)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	what := req.Method + " " + req.URL.RequestURI()
	if rec.Code != want {
		c.t.Fatalf("%s: got %d %s, want %d", what, rec.Code, rec.Body, want)
	}
	var e struct {
		Error string `json:"error"`
	}
	if rec.Code >= 400 && req.Method != http.MethodHead && json.Unmarshal(rec.Body.Bytes(), &e) == nil {
		c.seen[fmt.Sprint(rec.Code, " ", e.Error)] = true
	}

	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// No operation takes it: an unknown path or method, answered as
		// the document's components say.
		name := map[int]string{404: "NotFound", 405: "MethodNotAllowed"}[rec.Code]
		resp := c.doc.Components.Responses[name]
		if resp == nil {
			c.t.Errorf("%s: no operation (%v), and %d is not one of the document's answers to that", what, err, rec.Code)
			return rec
		}
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			c.t.Errorf("%s: %d body is not JSON: %v", what, rec.Code, err)
			return rec
		}
		if err := resp.Value.Content.Get("application/json").Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			c.t.Errorf("%s: %d answer does not match components.responses.%s: %v", what, rec.Code, name, err)
		}
		c.ops[fmt.Sprint(req.Method, " (none) ", rec.Code)] = true
		return rec
	}
	req.Body = newBody(body)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  rec.Code,
		Header:  rec.Header(),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		c.t.Errorf("%s: %d answer does not match the document: %v\n%s", what, rec.Code, err, rec.Body)
	}
	c.ops[fmt.Sprint(req.Method, " ", route.Path, " ", rec.Code)] = true
	return rec
}

func readAll(req *http.Request) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(req.Body)
	req.Body = newBody(b.Bytes())
	return b.Bytes(), err
}

type body struct{ *bytes.Reader }

func (body) Close() error { return nil }

func newBody(b []byte) body { return body{bytes.NewReader(b)} }

func request(method, target, token string, header ...string) *http.Request {
	req := httptest.NewRequest(method, "http://example.com"+target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return req
}

func withBody(req *http.Request, contentType, b string) *http.Request {
	req.Body = newBody([]byte(b))
	req.ContentLength = int64(len(b))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// Real requests through the router, answers of every kind, each validated
// against the document: every route and method with its success answer,
// and every error code the document names, each at least once.
func TestAnswersMatchTheOpenAPIDocument(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	spaApp, err := httpapi.OpenSPA(dir, httpapi.SPASettings{Issuer: "https://tenant.auth0.com/", ClientID: "spa", Audience: "https://api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer spaApp.Close()
	cfg := httpapi.Config{SPA: spaApp, Metadata: httpapi.ResourceMetadata{
		Resource: "http://example.com/api",
		AuthorizationServers: []httpapi.AuthorizationServer{{Issuer: "https://tenant.auth0.com/",
			AuthorizationEndpoint: "https://tenant.auth0.com/authorize", TokenEndpoint: "https://tenant.auth0.com/oauth/token"}},
	}}

	v := fake.New()
	v.Accept(tokNone, domain.Principal{Issuer: "https://tenant.auth0.com/", Subject: "none"})
	v.Accept(tokAll, domain.Principal{Issuer: "https://tenant.auth0.com/", Subject: "all", Scopes: httpapi.Scopes(), ExpiresAt: time.Now().Add(time.Hour)})
	v.Accept("writer", domain.Principal{Issuer: "https://tenant.auth0.com/", Subject: "writer", Scopes: []string{"write:messages"}})
	v.Refuse("expired", domain.InvalidToken(domain.ReasonExpired, errors.New("token is expired")))
	store := fake.NewMessages()
	stores := ports.Stores{Database: store, Messages: store}
	build := func(limiter ports.FailureLimiter, edit func(*httpapi.Config)) http.Handler {
		metrics, err := httpapi.NewMetrics(prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		proofs, replay := newProofs(t, nil)
		c := cfg
		if edit != nil {
			edit(&c)
		}
		return httpapi.NewRouter(c, httpapi.Services{
			Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, limiter),
			Health:   app.NewHealth(v, stores, replay),
			Messages: app.NewMessages(store, fixtureQuota),
		}, slog.New(slog.DiscardHandler), metrics)
	}
	c := newConformance(t, build(nil, nil))

	// Every route's success, GET and HEAD.
	for _, path := range []string{"/healthz", "/readyz", "/api/public", "/.well-known/oauth-protected-resource",
		"/.well-known/oauth-protected-resource/api", "/openapi.json", "/config.json"} {
		c.send(request("GET", path, ""), 200)
		c.send(request("HEAD", path, ""), 200)
	}
	for _, path := range []string{"/api/private", "/api/private-scoped", "/api/me", "/api/messages", "/api/messages?limit=1"} {
		c.send(request("GET", path, tokAll), 200)
		c.send(request("HEAD", path, tokAll), 200)
	}
	var ids []string
	for i := range fixtureQuota {
		rec := c.send(withBody(request("POST", "/api/messages", "writer"), "application/json", fmt.Sprintf(`{"text":"message %d"}`, i)), 201)
		var m domain.Message
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	page := c.send(request("GET", "/api/messages?limit=2", tokAll), 200)
	var list struct {
		Next string `json:"next_cursor"`
	}
	if err := json.Unmarshal(page.Body.Bytes(), &list); err != nil || list.Next == "" {
		t.Fatalf("a page of 2 of %d messages: next_cursor %q (%v)", fixtureQuota, list.Next, err)
	}
	c.send(request("GET", "/api/messages?limit=2&cursor="+list.Next, tokAll), 200)

	// The errors of the token check and of policies.
	c.send(request("GET", "/api/private", ""), 401)
	c.send(request("HEAD", "/api/private", ""), 401)
	c.send(request("GET", "/api/private", "expired"), 401)
	c.send(request("GET", "/api/private", "", "Authorization", "Bearer a", "Authorization", "Bearer b"), 400)
	c.send(request("GET", "/api/private", "", "Authorization", "DPoP "+tokAll, "DPoP", "not-a-proof"), 401)
	c.send(request("GET", "/api/private-scoped", tokNone), 403)
	c.send(request("GET", "/api/messages", tokNone), 403)
	c.send(withBody(request("POST", "/api/messages", tokNone), "application/json", `{"text":"x"}`), 403)
	c.send(request("DELETE", "/api/messages/"+ids[0], tokNone), 403)
	c.send(request("DELETE", "/api/messages/"+ids[0], tokAll), 204)

	// Each route's own errors.
	c.send(request("GET", "/api/messages?limit=1000", tokAll), 400)
	c.send(request("GET", "/api/messages?cursor=nonsense", tokAll), 400)
	c.send(withBody(request("POST", "/api/messages", "writer"), "text/plain", `{"text":"x"}`), 415)
	c.send(withBody(request("POST", "/api/messages", "writer"), "application/json", `{"text":"`+strings.Repeat("x", 17<<10)+`"}`), 413)
	c.send(withBody(request("POST", "/api/messages", "writer"), "application/json", `{"txt":"x"}`), 400)
	c.send(withBody(request("POST", "/api/messages", "writer"), "application/json", `{"text":"one too many"}`), 201)
	c.send(withBody(request("POST", "/api/messages", "writer"), "application/json", `{"text":"over the quota"}`), 429)
	c.send(request("DELETE", "/api/messages/0123456789abcdef0123456789abcdef", tokAll), 404)

	// Unknown paths and methods.
	c.send(request("GET", "/api/nothing", ""), 404)
	c.send(request("PUT", "/api/messages", tokAll), 405)

	// A store that fails: 503 when unavailable, 500 when it fails otherwise.
	store.Fail(fmt.Errorf("%w: connection refused", domain.ErrUnavailable))
	c.send(request("GET", "/api/messages", tokAll), 503)
	c.send(request("GET", "/readyz", ""), 503)
	store.Fail(errors.New("an error nobody expected"))
	c.send(request("GET", "/api/messages", tokAll), 500)
	store.Fail(nil)

	// The failed-credential limit: the second refused token from one
	// address is not checked.
	limited := newConformance(t, build(memory.NewFailureLimiter(domain.FailureLimit{Failures: 1, Window: time.Hour}, 16, nil), nil))
	limited.send(request("GET", "/api/private", "expired"), 401)
	limited.send(request("GET", "/api/private", "expired"), 429)

	// Step-up (RFC 9470): a route with a STEP_UP rule refuses a token
	// without the login it asks for, and its document says so.
	stepUp := newConformance(t, build(nil, func(c *httpapi.Config) {
		c.StepUp = map[string]domain.StepUp{"DELETE /api/messages/{id}": {ACR: []string{"urn:loa:2"}, MaxAge: time.Minute}}
	}))
	stepUp.send(request("DELETE", "/api/messages/"+ids[1], tokAll), 401)

	// DPoP: a refused proof, and a proof without the nonce nonces require.
	f := newDPoPFixture(t, app.DPoPAllowed, func(cfg *dpop.Config) { cfg.NonceSecret = bytes.Repeat([]byte("k"), 32) }, nil)
	d := newConformance(t, f.handler)
	d.send(request("GET", "/api/private", "", "Authorization", "DPoP "+tokBound), 401)
	d.send(request("GET", "/api/private", "", "Authorization", "DPoP "+tokBound, "DPoP", f.proof(t, "GET", "http://example.com/api/private", tokBound)), 401)

	// Every error code the documents name was seen, but those left to the
	// tests of their own limits.
	elsewhere := map[string]string{
		"429 too_many_requests": "the answer budget: TestAnswerBudgetThroughRouter",
		"429 too_many_proofs":   "the replay cache's shares: TestDPoPShareFlood",
	}
	for _, conf := range []*conformance{limited, stepUp, d} {
		for k := range conf.seen {
			c.seen[k] = true
		}
	}
	for _, code := range documentedErrors(t, c.doc) {
		if !c.seen[code] && elsewhere[code] == "" {
			t.Errorf("no answer %s was seen: add a request that gets it", code)
		}
	}
	// And every route and method answered its success.
	for _, rt := range httpapi.RouteTable(cfg) {
		for _, m := range rt.Methods {
			found := false
			for op := range c.ops {
				if strings.HasPrefix(op, m+" "+rt.Path+" 2") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s %s: no success answer was validated", m, rt.Path)
			}
		}
	}
}

// documentedErrors lists "status error" for every error code the document
// names, each once, sorted.
func documentedErrors(t *testing.T, doc *openapi3.T) []string {
	t.Helper()
	set := map[string]bool{}
	add := func(status string, r *openapi3.ResponseRef) {
		if r == nil || r.Value == nil || r.Value.Content.Get("application/json") == nil {
			return
		}
		s := r.Value.Content.Get("application/json").Schema.Value
		if s == nil || s.Properties["error"] == nil {
			return
		}
		for _, code := range s.Properties["error"].Value.Enum {
			set[status+" "+code.(string)] = true
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for status, r := range op.Responses.Map() {
				add(status, r)
			}
		}
	}
	add("404", doc.Components.Responses["NotFound"])
	add("405", doc.Components.Responses["MethodNotAllowed"])
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatal("the document names no error code")
	}
	return out
}

// docs/endpoints.md's table of answers and the document name the same
// error answers: each status and error code in one is in the other.
func TestEndpointsDocNamesTheDocumentsErrors(t *testing.T) {
	table, err := os.ReadFile("../../docs/endpoints.md")
	if err != nil {
		t.Fatal(err)
	}
	_, answers, ok := strings.Cut(string(table), "\n## Answers\n")
	if !ok {
		t.Fatal("docs/endpoints.md has no ## Answers section")
	}
	answers, _, _ = strings.Cut(answers, "\n## ")
	inDocs := map[string]bool{}
	cell := regexp.MustCompile("^\\| [^|]* \\| (\\d{3}) `([a-z_]+)`")
	for line := range strings.SplitSeq(answers, "\n") {
		if m := cell.FindStringSubmatch(line); m != nil {
			inDocs[m[1]+" "+m[2]] = true
		}
	}
	if len(inDocs) < 10 {
		t.Fatalf("found %d answers in docs/endpoints.md's table: the table's form changed?", len(inDocs))
	}
	// Answers no route of the table gives today, which the docs describe
	// for the routes a team adds.
	notInDocument := map[string]string{"403 forbidden": "a role, claim or custom policy: no route of the table has one"}
	// Every DPoP mode, so that the DPoP answers are in the document.
	inDocument := map[string]bool{}
	for _, mode := range []app.DPoPMode{app.DPoPAllowed, app.DPoPRequired, app.DPoPDisabled} {
		doc, _ := loadOpenAPI(t, metadataRouter(t, httpapi.Config{StepUp: map[string]domain.StepUp{"DELETE /api/messages/{id}": {MaxAge: time.Minute}}}, mode))
		for _, code := range documentedErrors(t, doc) {
			inDocument[code] = true
		}
	}
	for code := range inDocument {
		if !inDocs[code] {
			t.Errorf("the OpenAPI document names %s, docs/endpoints.md's table of answers does not", code)
		}
	}
	for code := range inDocs {
		if !inDocument[code] && notInDocument[code] == "" {
			t.Errorf("docs/endpoints.md names %s, the OpenAPI document does not", code)
		}
	}
}

// The document's servers member names the URL each request was sent to
// (the Host, or PUBLIC_URL behind a proxy), whichever request came
// before; the rest is the same document. Anyone may read it.
func TestOpenAPIServers(t *testing.T) {
	h := metadataRouter(t, httpapi.Config{}, app.DPoPAllowed)
	behind := metadataRouter(t, httpapi.Config{HTU: func(r *http.Request) string {
		return "https://example.com/backend" + r.URL.Path
	}}, app.DPoPAllowed)
	var rest []byte
	for _, tc := range []struct {
		h      http.Handler
		same   bool // h: compared with the previous answer of h
		target string
		want   string
	}{
		{h, true, "http://a.test/openapi.json", "http://a.test"},
		{h, true, "http://b.test:8443/openapi.json", "http://b.test:8443"},
		{h, true, "http://a.test/openapi.json", "http://a.test"},
		{behind, false, "http://internal:8080/openapi.json", "https://example.com/backend"},
	} {
		rec := get(tc.h, tc.target, nil)
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); rec.Code != 200 || err != nil {
			t.Fatalf("%s: got %d, %v", tc.target, rec.Code, err)
		}
		var servers []struct{ URL string }
		if err := json.Unmarshal(doc["servers"], &servers); err != nil || len(servers) != 1 || servers[0].URL != tc.want {
			t.Errorf("%s: servers %s, want [{url: %s}]", tc.target, doc["servers"], tc.want)
		}
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want *", tc.target, got)
		}
		delete(doc, "servers")
		b, _ := json.Marshal(doc)
		if tc.same && rest != nil && !bytes.Equal(b, rest) {
			t.Errorf("%s: the document besides servers differs from the previous one", tc.target)
		}
		if tc.same {
			rest = b
		}
	}
}
