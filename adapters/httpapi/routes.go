// Package httpapi is the HTTP adapter: a gorilla/mux router with the
// public and protected endpoints, the middleware around them, and the one
// place domain errors become HTTP answers (RFC 6750 for auth errors).
package httpapi

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

// Config is what the router needs besides the services.
type Config struct {
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to call the API cross-origin; "*" allows any origin.
	AllowedOrigins []string
	// HTU returns the URL a request was addressed to, without query: what
	// a DPoP proof's htu must name (adapters/dpop.URLPolicy.HTU, under
	// PUBLIC_URL or TRUSTED_PROXIES). nil: the connection's scheme, the
	// Host header and the path, right only without a proxy in front.
	HTU func(*http.Request) string
	// TrustedProxies are the proxies (TRUSTED_PROXIES) whose
	// X-Forwarded-For names the client, for the failed-credential limit;
	// from anyone else, the connection's address is the client's (see
	// clientAddress).
	TrustedProxies []netip.Prefix
	// ClientCertHeader is the header trusted proxies pass the client's TLS
	// certificate in, for certificate-bound tokens: "" for RFC 9440's
	// Client-Cert. Either form is read from it: a byte sequence (RFC 9440)
	// or a URL-encoded PEM certificate (nginx's $ssl_client_escaped_cert).
	ClientCertHeader string
	// Answers bounds the memory large answers hold, server-wide (cmd/api
	// sizes it from MEMORY_LIMIT). nil: a budget of DefaultAnswerBudget.
	Answers *AnswerBudget
	// SPA, when set, is the built single-page app served from the same
	// origin (spa.go): its settings at /config.json, its files for the
	// GETs no route matches. nil: no SPA, and those get the JSON 404.
	SPA *SPA
	// Metadata is what the protected resource metadata (RFC 9728) and the
	// OpenAPI document say besides the route table (metadata.go,
	// openapi.go).
	Metadata ResourceMetadata
	// StepUp asks of the routes it names a stronger or more recent login
	// than a valid token (RFC 9470: 401 insufficient_user_authentication),
	// checked after the route's own policy. Routes are named as
	// TokenRoutes lists them ("DELETE /api/messages/{id}"); a GET rule
	// covers HEAD. NewRouter panics on a name that is not there: cmd/api
	// checks STEP_UP against TokenRoutes first.
	StepUp map[string]domain.StepUp
	// Tracer, when set, makes every request an OpenTelemetry span
	// (tracing.go). nil: no spans, and no cost.
	Tracer trace.Tracer
}

// Services are the use cases the routes call, one field each: a new
// resource adds its service here (and its routes to the table below), and
// the injectors fill it in by name (wire.Struct), so that no call site
// lists the services one by one.
type Services struct {
	Auth     *app.Auth
	Health   *app.Health
	Messages *app.Messages
}

// route is a line of the route table: a path template, its methods, who
// may call it, the handler, and what the OpenAPI document says of it
// besides (openapi.go).
type route struct {
	path    string
	methods []string
	access  access
	handler http.Handler
	doc     operation
}

// access is who may call a route: anyone, any caller with a valid access
// token, or a caller whose token a policy allows.
type access struct {
	token  bool
	policy domain.Policy
}

var (
	anyone   = access{}
	anyToken = access{token: true}
)

// allowedBy requires a valid access token that policy allows. A route
// that acts (writes, deletes) always names here the scope the client
// needs; a rule about the thing itself (whose it is) is checked on top of
// it by the service, never instead of it.
func allowedBy(policy domain.Policy) access { return access{token: true, policy: policy} }

// scopeSets are the sets of scopes that pass the access's policy, as
// alternatives (domain.ScopeSets): none without a policy.
func (a access) scopeSets() (sets [][]string, exact bool) {
	if a.policy == nil {
		return [][]string{{}}, true
	}
	return domain.ScopeSets(a.policy)
}

// scopeSets are the route's (access.scopeSets).
func (rt route) scopeSets() [][]string {
	sets, _ := rt.access.scopeSets()
	return sets
}

// ownRoutes are the routes about the API itself, made by NewRouter: the
// SPA's settings (nil without the SPA), the protected resource metadata
// at its paths, and the OpenAPI document.
type ownRoutes struct {
	spaConfig     http.Handler
	metadata      http.Handler
	metadataPaths []string
	openAPI       http.Handler
}

// routes is the route table: every route of the API, who may call it,
// what answers it and what the OpenAPI document says of it. A new resource
// adds its lines here. The handler makers only keep their service and the
// answer budget (Scopes reads the table with neither). own are the routes
// about the API itself.
func routes(s Services, answers *AnswerBudget, own ownRoutes) []route {
	get := []string{http.MethodGet, http.MethodHead}
	post := []string{http.MethodPost}
	del := []string{http.MethodDelete}
	table := []route{
		{"/healthz", get, anyone, handleHealthz(), doc("Liveness: 200 while the process is up", ok(status{}))},
		{"/readyz", get, anyone, handleReadyz(s.Health), doc("Readiness: 200 once the signing keys, the database and Redis (if used) answer",
			ok(status{}), describe("503 temporarily_unavailable names what is missing."))},

		{"/api/public", get, anyone, handlePublic(s.Messages), doc("A message for anyone", ok(app.Message{}))},
		{"/api/private", get, anyToken, handlePrivate(s.Messages), doc("A message for any valid access token", ok(app.Message{}))},
		{"/api/private-scoped", get, allowedBy(domain.AllScopes("read:messages")), handlePrivateScoped(s.Messages),
			doc("A message for access tokens with read:messages", ok(app.Message{}))},
		{"/api/me", get, anyToken, handleMe(s.Messages), doc("What the API read from the caller's access token", ok(app.Profile{}))},

		{"/api/messages", get, allowedBy(domain.AllScopes("read:messages")), handleListMessages(s.Messages, answers),
			doc("Messages, newest first, a page at a time", ok(messagePage{}),
				query("limit", "messages per page, 1 to "+strconv.Itoa(app.MaxPageSize)+" (default "+strconv.Itoa(app.DefaultPageSize)+")", map[string]any{"type": "integer", "minimum": 1, "maximum": app.MaxPageSize}),
				query("cursor", "the next_cursor of the previous page", map[string]any{"type": "string"}),
				fails(http.StatusBadRequest, "invalid_request"), fails(http.StatusTooManyRequests, "too_many_requests"))},
		{"/api/messages", post, allowedBy(domain.AllScopes("write:messages")), handlePostMessage(s.Messages),
			doc("Post a message; the caller is its author", body(newMessage{}, textLimits("text", domain.MaxMessageLength)), created(domain.Message{}, "Location"),
				fails(http.StatusBadRequest, "invalid_input"), fails(http.StatusRequestEntityTooLarge, "request_too_large"),
				fails(http.StatusUnsupportedMediaType, "unsupported_media_type"), fails(http.StatusTooManyRequests, "quota_exceeded"))},
		// write:messages deletes the author's own, delete:messages anyone's:
		// the service checks whose message it is on top of the scope
		// (domain.CanDelete).
		{"/api/messages/{id}", del, allowedBy(domain.AnyScope("write:messages", "delete:messages")), handleDeleteMessage(s.Messages),
			doc("Delete a message: the author's own with write:messages, anyone's with delete:messages", noContent(),
				describe("A token with write:messages that is not the author's gets 403 insufficient_scope naming delete:messages."),
				fails(http.StatusNotFound, "not_found"))},
	}
	for _, path := range own.metadataPaths {
		table = append(table, route{path, get, anyone, own.metadata, doc("Protected resource metadata (RFC 9728): the authorization servers, scopes and DPoP rules",
			ok(protectedResource{}))})
	}
	table = append(table, route{"/openapi.json", get, anyone, own.openAPI, doc("This OpenAPI document",
		okObject(), describe("The document's schema is the OpenAPI 3.1 specification's."))})
	if own.spaConfig != nil {
		// The SPA's run-time settings; its files answer the GETs no route
		// matches (NewRouter's NotFoundHandler, SPA.fallback).
		table = append(table, route{"/config.json", get, anyone, own.spaConfig, doc("The single-page app's settings", ok(spaConfigAnswer{}))})
	}
	return table
}

// ownRoutesFor returns the routes about the API itself that cfg asks for:
// the SPA's settings with an SPA, the metadata at the paths its resource
// identifier gives, the OpenAPI document (its handler still without a
// document, and the metadata's handler unset: NewRouter makes both from
// the table).
func ownRoutesFor(cfg Config, htu func(*http.Request) string) ownRoutes {
	own := ownRoutes{metadataPaths: []string{metadataPath}, openAPI: &openAPIDoc{}}
	if cfg.SPA != nil {
		own.spaConfig = cfg.SPA.handleConfig(htu)
	}
	if suffix := metadataSuffix(cfg.Metadata.Resource); suffix != "" {
		own.metadataPaths = append(own.metadataPaths, metadataPath+suffix)
	}
	return own
}

// TokenRoutes lists the routes that take an access token, as "METHOD
// /path/template", in the order of the route table: what Config.StepUp
// may name. A route's HEAD goes with its GET and is not listed apart.
func TokenRoutes() []string {
	var out []string
	for _, rt := range routes(Services{}, nil, ownRoutes{}) {
		if rt.access.token {
			for _, m := range rt.methods {
				if m != http.MethodHead || !slices.Contains(rt.methods, http.MethodGet) {
					out = append(out, m+" "+rt.path)
				}
			}
		}
	}
	return out
}

// stepUpPolicies returns, for each route of table, its Config.StepUp
// policy (nil for none), by the route's index; every key of stepUp must
// name a route that takes a token.
func stepUpPolicies(table []route, stepUp map[string]domain.StepUp) []domain.Policy {
	out := make([]domain.Policy, len(table))
	for i, rt := range table {
		for _, m := range rt.methods {
			need, ok := stepUp[m+" "+rt.path]
			if !ok || need.IsZero() {
				continue
			}
			if !rt.access.token {
				panic("httpapi: Config.StepUp names " + m + " " + rt.path + ", which takes no token")
			}
			if out[i] != nil {
				panic("httpapi: Config.StepUp names " + rt.path + " twice")
			}
			out[i] = domain.RequireStepUp(need, nil)
		}
	}
	for key, need := range stepUp {
		if !need.IsZero() && !slices.Contains(TokenRoutes(), key) {
			panic("httpapi: Config.StepUp names " + key + ", which is not one of TokenRoutes")
		}
	}
	return out
}

// Scopes lists every scope (or permission) some route's policy names,
// each once, in the order of the route table: what the API asks clients
// to be granted. The development issuer offers them
// (adapters/devissuer.APIScopes; cmd/api's tests check it lists each).
func Scopes() []string {
	return scopesOf(routes(Services{}, nil, ownRoutes{}))
}

// NewRouter returns the whole API: the route table (routes) served with
// each route's access checked, and the middleware around it.
func NewRouter(cfg Config, s Services, log *slog.Logger, metrics *Metrics) http.Handler {
	r := mux.NewRouter()

	// Who may call what. The middleware is applied per route rather than
	// with a PathPrefix subrouter's Use: a gorilla/mux subrouter's copied
	// path prefix clears the method mismatch of an earlier route, turning
	// a 405 into a 404 (see TestMethodNotAllowed).
	htu := cfg.HTU
	if htu == nil {
		htu = requestURL
	}
	answers := cfg.Answers
	if answers == nil {
		answers = NewAnswerBudget(DefaultAnswerBudget)
	}
	// The routes about the API itself are built from the table: its
	// metadata and its OpenAPI document describe it.
	own := ownRoutesFor(cfg, htu)
	meta := newMetadata(cfg.Metadata, routes(Services{}, nil, own), s.Auth, htu)
	own.metadata = meta.handle()
	table := routes(s, answers, own)
	stepUp := stepUpPolicies(table, cfg.StepUp)
	for i := range table {
		if stepUp[i] != nil {
			fails(http.StatusUnauthorized, insufficientUserAuthentication)(&table[i].doc)
		}
	}
	openAPIHandler := own.openAPI.(*openAPIDoc)
	openAPIHandler.document = openAPI(table, cfg.Metadata, s.Auth)
	openAPIHandler.base = meta.base
	authenticated := requireAuth(s.Auth, meta, htu, cfg.TrustedProxies, metrics.clientCerts(cfg.TrustedProxies, cfg.ClientCertHeader))

	// Each route is registered for its path template and methods. The log
	// line and the metrics name the route by its template (recordRoute),
	// never by the raw path.
	exact := &exactRoutes{mux: r}
	for i, rt := range table {
		h := rt.handler
		policy := rt.access.policy
		switch {
		case stepUp[i] == nil:
		case policy == nil:
			policy = stepUp[i]
		default:
			// The route's own policy first: a caller who lacks a scope
			// gains nothing from logging in again.
			policy = domain.And(policy, stepUp[i])
		}
		if policy != nil {
			h = allow(s.Auth, policy, h)
		}
		if rt.access.token {
			h = authenticated(h)
		}
		h = recordRoute(rt.path, h)
		exact.add(rt.path, rt.methods, r.Handle(rt.path, h).Methods(rt.methods...), h)
	}

	// The methods the routes serve: what a 405's Allow header and the
	// CORS preflight may list, derived so no second list goes stale.
	methods := servedMethods(r)

	r.NotFoundHandler = handleNotFound()
	if cfg.SPA != nil {
		r.NotFoundHandler = cfg.SPA.fallback(r.NotFoundHandler)
	}
	r.MethodNotAllowedHandler = handleMethodNotAllowed(r, methods)
	exact.check()

	// mux's Use skips 404 and 405 answers, so these wrap the whole router.
	// The first listed is the outermost.
	return chain(exact,
		logRequests(log, metrics, cfg.Tracer), // and request IDs, and spans
		cors(cfg.AllowedOrigins, methods),
		recoverPanics(log),
	)
}

// exactRoutes serves the routes without path variables from a map of
// path and method, ahead of mux, which would try each route's regular
// expression in turn and then add two context values (each a copy of the
// request) for mux.Vars and mux.CurrentRoute, both empty for these
// routes. Everything else goes to mux: templates, 404 and 405 answers,
// the paths it redirects. A path and method are only in the map if mux
// itself routes them to the same route (check), so the answer is the
// same either way; only mux.Vars and mux.CurrentRoute are nil here.
type exactRoutes struct {
	mux    *mux.Router
	routes map[string]map[string]exactRoute // by path, then method
}

type exactRoute struct {
	route   *mux.Route
	handler http.Handler
}

// add notes a route, if its template has no variables.
func (e *exactRoutes) add(template string, methods []string, route *mux.Route, h http.Handler) {
	if strings.Contains(template, "{") {
		return
	}
	if e.routes == nil {
		e.routes = map[string]map[string]exactRoute{}
	}
	if e.routes[template] == nil {
		e.routes[template] = map[string]exactRoute{}
	}
	for _, m := range methods {
		if _, taken := e.routes[template][m]; !taken { // mux keeps the first
			e.routes[template][m] = exactRoute{route, h}
		}
	}
}

// check keeps only the paths and methods mux routes to the same route.
func (e *exactRoutes) check() {
	for path, byMethod := range e.routes {
		for method, er := range byMethod {
			var match mux.RouteMatch
			req := &http.Request{Method: method, URL: &url.URL{Path: path}, Header: http.Header{}}
			if !e.mux.Match(req, &match) || match.Route != er.route || match.MatchErr != nil {
				delete(byMethod, method)
			}
		}
	}
}

func (e *exactRoutes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if er, ok := e.routes[r.URL.Path][r.Method]; ok {
		er.handler.ServeHTTP(w, r)
		return
	}
	e.mux.ServeHTTP(w, r)
}

// servedMethods returns every method some route of r serves, in the order
// the routes name them.
func servedMethods(r *mux.Router) []string {
	var methods []string
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		ms, err := route.GetMethods()
		if err != nil {
			return nil // a route without a method matcher; NewRouter has none
		}
		for _, m := range ms {
			if !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
		return nil
	})
	return methods
}

// chain wraps h in middleware, the first one outermost.
func chain(h http.Handler, middleware ...func(http.Handler) http.Handler) http.Handler {
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	return h
}
