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
	"strings"

	"github.com/gorilla/mux"

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
	// Answers bounds the memory large answers hold, server-wide (cmd/api
	// sizes it from MEMORY_LIMIT). nil: a budget of DefaultAnswerBudget.
	Answers *AnswerBudget
	// SPA, when set, is the built single-page app served from the same
	// origin (spa.go): its settings at /config.json, its files for the
	// GETs no route matches. nil: no SPA, and those get the JSON 404.
	SPA *SPA
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
// may call it and the handler.
type route struct {
	path    string
	methods []string
	access  access
	handler http.Handler
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

// routes is the route table: every route of the API, who may call it and
// what answers it. A new resource adds its lines here. The handler makers
// only keep their service and the answer budget (Scopes reads the table
// with neither). spaConfig, when the API serves the SPA, answers the
// SPA's settings.
func routes(s Services, answers *AnswerBudget, spaConfig http.Handler) []route {
	get := []string{http.MethodGet, http.MethodHead}
	post := []string{http.MethodPost}
	del := []string{http.MethodDelete}
	table := []route{
		{"/healthz", get, anyone, handleHealthz()},
		{"/readyz", get, anyone, handleReadyz(s.Health)},

		{"/api/public", get, anyone, handlePublic(s.Messages)},
		{"/api/private", get, anyToken, handlePrivate(s.Messages)},
		{"/api/private-scoped", get, allowedBy(domain.AllScopes("read:messages")), handlePrivateScoped(s.Messages)},
		{"/api/me", get, anyToken, handleMe(s.Messages)},

		{"/api/messages", get, allowedBy(domain.AllScopes("read:messages")), handleListMessages(s.Messages, answers)},
		{"/api/messages", post, allowedBy(domain.AllScopes("write:messages")), handlePostMessage(s.Messages)},
		// write:messages deletes the author's own, delete:messages anyone's:
		// the service checks whose message it is on top of the scope
		// (domain.CanDelete).
		{"/api/messages/{id}", del, allowedBy(domain.AnyScope("write:messages", "delete:messages")), handleDeleteMessage(s.Messages)},
	}
	if spaConfig != nil {
		// The SPA's run-time settings; its files answer the GETs no route
		// matches (NewRouter's NotFoundHandler, SPA.fallback).
		table = append(table, route{"/config.json", get, anyone, spaConfig})
	}
	return table
}

// Scopes lists every scope (or permission) some route's policy names,
// each once, in the order of the route table: what the API asks clients
// to be granted. The development issuer offers them
// (adapters/devissuer.APIScopes; cmd/api's tests check it lists each).
func Scopes() []string {
	var out []string
	for _, rt := range routes(Services{}, nil, nil) {
		if rt.access.policy == nil {
			continue
		}
		for _, sc := range domain.ScopesOf(rt.access.policy) {
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	return out
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
	authenticated := requireAuth(s.Auth, htu, cfg.TrustedProxies)
	var spaConfig http.Handler
	if cfg.SPA != nil {
		spaConfig = cfg.SPA.handleConfig(htu)
	}

	// Each route is registered for its path template and methods. The log
	// line and the metrics name the route by its template (recordRoute),
	// never by the raw path.
	exact := &exactRoutes{mux: r}
	for _, rt := range routes(s, answers, spaConfig) {
		h := rt.handler
		if rt.access.policy != nil {
			h = allow(s.Auth, rt.access.policy, h)
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
		logRequests(log, metrics), // and request IDs
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
