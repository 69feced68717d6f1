// Package httpapi is the HTTP adapter: a gorilla/mux router with the
// public and protected endpoints, the middleware around them, and the one
// place domain errors become HTTP answers (RFC 6750 for auth errors).
package httpapi

import (
	"log/slog"
	"net/http"
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
	// Answers bounds the memory large answers hold, server-wide (cmd/api
	// sizes it from MEMORY_LIMIT). nil: a budget of DefaultAnswerBudget.
	Answers *AnswerBudget
}

// NewRouter returns the whole API. Every route and who may call it is here.
func NewRouter(cfg Config, auth *app.Auth, messages *app.Messages, health *app.Health, log *slog.Logger, metrics *Metrics) http.Handler {
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
	authenticated := requireAuth(auth, htu)
	authorized := func(policy domain.Policy, h http.Handler) http.Handler {
		return authenticated(allow(auth, policy, h))
	}

	// handle registers h for the path template and methods. The log line
	// and the metrics name the route by its template (recordRoute), never
	// by the raw path.
	exact := &exactRoutes{mux: r}
	handle := func(template string, h http.Handler, methods ...string) {
		h = recordRoute(template, h)
		exact.add(template, methods, r.Handle(template, h).Methods(methods...), h)
	}
	get := []string{http.MethodGet, http.MethodHead}

	handle("/healthz", handleHealthz(), get...)
	handle("/readyz", handleReadyz(health), get...)

	handle("/api/public", handlePublic(messages), get...)
	handle("/api/private", authenticated(handlePrivate(messages)), get...)
	handle("/api/private-scoped", authorized(domain.AllScopes("read:messages"), handlePrivateScoped(messages)), get...)
	handle("/api/me", authenticated(handleMe(messages)), get...)

	handle("/api/messages", authorized(domain.AllScopes("read:messages"), handleListMessages(messages, answers)), get...)
	handle("/api/messages", authorized(domain.AllScopes("write:messages"), handlePostMessage(messages)), http.MethodPost)
	// Who may delete depends on the message: its author, or a caller with
	// delete:messages. The domain decides (domain.CanDelete).
	handle("/api/messages/{id}", authenticated(handleDeleteMessage(messages)), http.MethodDelete)

	// The methods the routes serve: what a 405's Allow header and the
	// CORS preflight may list, derived so no second list goes stale.
	methods := servedMethods(r)

	r.NotFoundHandler = handleNotFound()
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
