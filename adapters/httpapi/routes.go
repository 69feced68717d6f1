// Package httpapi is the HTTP adapter: a gorilla/mux router with the
// public and protected endpoints, the middleware around them, and the one
// place domain errors become HTTP answers (RFC 6750 for auth errors).
package httpapi

import (
	"log/slog"
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

// Config is what the router needs besides the services.
type Config struct {
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to call the API cross-origin; "*" allows any origin.
	AllowedOrigins []string
}

// NewRouter returns the whole API. Every route and who may call it is here.
func NewRouter(cfg Config, auth *app.Auth, messages *app.Messages, health *app.Health, log *slog.Logger, metrics *Metrics) http.Handler {
	r := mux.NewRouter()

	// Who may call what. The middleware is applied per route rather than
	// with a PathPrefix subrouter's Use: a gorilla/mux subrouter's copied
	// path prefix clears the method mismatch of an earlier route, turning
	// a 405 into a 404 (see TestMethodNotAllowed).
	authenticated := requireAuth(auth)
	authorized := func(policy domain.Policy, h http.Handler) http.Handler {
		return authenticated(allow(auth, policy, h))
	}

	// handle registers h for the path template and methods. The log line
	// and the metrics name the route by its template (recordRoute), never
	// by the raw path.
	handle := func(template string, h http.Handler, methods ...string) {
		r.Handle(template, recordRoute(template, h)).Methods(methods...)
	}
	get := []string{http.MethodGet, http.MethodHead}

	handle("/healthz", handleHealthz(), get...)
	handle("/readyz", handleReadyz(health), get...)

	handle("/api/public", handlePublic(messages), get...)
	handle("/api/private", authenticated(handlePrivate(messages)), get...)
	handle("/api/private-scoped", authorized(domain.AllScopes("read:messages"), handlePrivateScoped(messages)), get...)
	handle("/api/me", authenticated(handleMe(messages)), get...)

	handle("/api/messages", authorized(domain.AllScopes("read:messages"), handleListMessages(messages)), get...)
	handle("/api/messages", authorized(domain.AllScopes("write:messages"), handlePostMessage(messages)), http.MethodPost)
	// Who may delete depends on the message: its author, or a caller with
	// delete:messages. The domain decides (domain.CanDelete).
	handle("/api/messages/{id}", authenticated(handleDeleteMessage(messages)), http.MethodDelete)

	// The methods the routes serve: what a 405's Allow header and the
	// CORS preflight may list, derived so no second list goes stale.
	methods := servedMethods(r)

	r.NotFoundHandler = handleNotFound()
	r.MethodNotAllowedHandler = handleMethodNotAllowed(r, methods)

	// mux's Use skips 404 and 405 answers, so these wrap the whole router.
	// The first listed is the outermost.
	return chain(r,
		logRequests(log, metrics), // and request IDs

		cors(cfg.AllowedOrigins, methods),
		recoverPanics(log),
	)
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
