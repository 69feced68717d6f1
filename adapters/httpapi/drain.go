package httpapi

import (
	"net/http"
	"strconv"
	"sync/atomic"
)

// Drain is a stopping server's notice to its load balancer and clients.
// Once Start is called, GET and HEAD /readyz answer 503 "shutting down",
// so that the load balancer's health check takes the instance out of
// rotation before its listener closes (after which a request sent to it
// would fail), while every other request is served as before, but with
// Connection: close: a client's (or the load balancer's) next request
// opens a new connection, to another instance once this one is out.
// Over HTTP/2, net/http takes Connection: close as a GOAWAY once the
// connection's streams are done.
//
// Idle connections are not closed at once (http.Server's
// SetKeepAlivesEnabled(false) would): a request already on its way on one
// would be lost. Shutdown closes those that are still open at the end.
type Drain struct {
	on atomic.Bool
}

// Start makes /readyz answer 503 from now on.
func (d *Drain) Start() { d.on.Store(true) }

var closeConnection = []string{"close"}

// drainAnswer is the whole 503 body, made once.
var drainAnswer = []byte(`{"error":"temporarily_unavailable","error_description":"shutting down"}` + "\n")

// Handler wraps h, the whole router: outside it, so that the 503 does not
// depend on the readiness checks (it is not logged per request; the
// shutdown is, once).
func (d *Drain) Handler(h http.Handler) http.Handler {
	length := []string{strconv.Itoa(len(drainAnswer))}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.on.Load() {
			h.ServeHTTP(w, r)
			return
		}
		hdr := w.Header()
		hdr["Connection"] = closeConnection
		if r.URL.Path != "/readyz" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		hdr["Content-Type"] = jsonType
		hdr["Content-Length"] = length
		hdr["Cache-Control"] = noStore
		hdr["X-Content-Type-Options"] = nosniff
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.Method == http.MethodGet {
			w.Write(drainAnswer)
		}
	})
}
