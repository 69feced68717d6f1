package httpapi

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

// requireAuth lets a request through only with a valid access token (and,
// for a DPoP-bound token, its proof), and gives handlers its principal
// (principalFrom). htu rebuilds the URL a DPoP proof must name; proxies
// are the trusted proxies, which say who the client is (clientAddress).
// certs finds the client certificate the request came with, for
// certificate-bound tokens. Credentials the request carries but this layer cannot read go to
// Authenticate too (Credentials.Malformed), so that they count against
// the client's failure limit like any other refusal.
func requireAuth(auth *app.Auth, m *metadata, htu func(*http.Request) string, proxies []netip.Prefix, certs *clientCerts) mux.MiddlewareFunc {
	offered := newSchemes(auth, m)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Cache-Control"] = noStore
			info := infoFrom(w)
			info.protected = true
			info.schemes = offered
			c, err := credentials(r)
			if c.Scheme == app.SchemeDPoP && offered.mode == app.DPoPDisabled {
				c, err = app.Credentials{}, domain.ErrUnauthenticated // a scheme this API does not speak
			}
			info.scheme = c.Scheme
			var p domain.Principal
			if err == nil {
				err = dpopRequest(w, r, auth, &c, htu)
			}
			if err == nil || !errors.Is(err, domain.ErrUnauthenticated) {
				c.Malformed, c.Client = err, clientAddress(r, proxies)
				c.CertThumbprint = certs.thumbprint(r)
				p, err = auth.Authenticate(r.Context(), c)
			}
			if err != nil {
				writeError(w, r, err)
				return
			}
			info.principal = p
			next.ServeHTTP(w, r)
		})
	}
}

// allow runs next only if policy allows the request's principal.
func allow(auth *app.Auth, policy domain.Policy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auth.Authorize(r.Context(), principalFrom(w), policy); err != nil {
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// principalFrom returns the principal requireAuth stored. Handlers behind
// requireAuth always have one.
func principalFrom(w http.ResponseWriter) domain.Principal {
	return infoFrom(w).principal
}

// requestInfo collects what the request log line reports. Middleware and
// handlers fill it in as the request passes through them, all on the
// request's own goroutine, so it needs no lock.
type requestInfo struct {
	id        string
	route     string
	protected bool             // passed through requireAuth
	principal domain.Principal // set by requireAuth
	scheme    app.Scheme       // set by requireAuth: how the token came
	schemes   *schemes         // set by requireAuth: what the route accepts, for challenges
	reason    string           // why a protected request was refused: counted as its auth outcome, and logged
	// note is logged as the reason when reason is empty: why a request
	// that passed authentication was refused (the answer budget).
	note string
	err  error
	// warn logs a 5xx at WARN, not ERROR: the server refused work it could
	// not take on (overload), nothing failed.
	warn bool
	// clientGone: the client closed the connection before its answer (the
	// request's context was canceled). Logged and counted as status 499,
	// "client closed request", at INFO: not a server error.
	clientGone bool
	// span is the request's trace span (tracing.go); nil without a tracer.
	span trace.Span
}

// exchange is one request on its way through the middleware: the
// ResponseWriter every handler below logRequests is given, recording the
// status written, and the request's info, in one allocation (with a
// generated ID's string, the only one this package makes for a cached
// /api/private). Handlers find it through their ResponseWriter (infoFrom)
// rather than through a context value, which would copy the
// *http.Request.
type exchange struct {
	http.ResponseWriter
	status  int
	info    requestInfo
	idValue [1]string // the X-Request-Id header's value
}

func (x *exchange) WriteHeader(code int) {
	if x.status == 0 {
		x.status = code
	}
	x.ResponseWriter.WriteHeader(code)
}

func (x *exchange) Write(b []byte) (int, error) {
	if x.status == 0 {
		x.status = http.StatusOK
	}
	return x.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

// infoFrom returns the info of the request w answers: the exchange's,
// found through any writers wrapping it (by their Unwrap method, as
// http.ResponseController finds the real writer), or a throwaway one
// outside logRequests.
func infoFrom(w http.ResponseWriter) *requestInfo {
	for {
		switch x := w.(type) {
		case *exchange:
			return &x.info
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return &requestInfo{}
		}
	}
}

// recordRoute notes the route's template (not the raw path) for the log
// and the metrics. routes.go wraps every route's handler in it, with the
// template the route was registered with.
func recordRoute(template string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(w).route = template
		next.ServeHTTP(w, r)
	})
}

// requestIDHeader is X-Request-ID in the canonical form net/http uses as
// the key of parsed headers, so that lookups need no conversion.
const requestIDHeader = "X-Request-Id"

// requestID returns the request's ID: the caller's X-Request-ID if it is
// short and plain, else a new random one.
func requestID(r *http.Request) string {
	if v := r.Header[requestIDHeader]; len(v) > 0 && plainID(v[0]) {
		return v[0]
	}
	// 96 random bits, as 24 hex digits. An ID only tells requests apart
	// in logs, it guards nothing, so math/rand's per-thread generator
	// (seeded by the runtime from the OS) is enough, and much cheaper.
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], rand.Uint64())
	var id [24]byte
	hex.Encode(id[:], raw[:12])
	return string(id[:])
}

func plainID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// logRequests gives every request an ID (echoed in X-Request-ID) and,
// once answered, writes its one JSON log line: method, route template,
// status, duration, request ID, and the subject or the refusal reason
// (and the error, for a 5xx). Never the token, the Authorization header
// or the raw path. It also records the request's metrics.
//
// With a tracer, the request is also a span (tracing.go), and its log
// line carries the span's trace_id and span_id.
func logRequests(log *slog.Logger, metrics *Metrics, tracer trace.Tracer) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			x := &exchange{ResponseWriter: w}
			x.info.id = requestID(r)
			x.idValue[0] = x.info.id
			w.Header()[requestIDHeader] = x.idValue[:]
			if tracer != nil {
				r = startSpan(tracer, x, r, start)
			}
			next.ServeHTTP(x, r)
			if x.status == 0 {
				x.status = http.StatusOK
			}
			if x.info.clientGone {
				x.status = StatusClientClosedRequest
			}
			// One monotonic reading; the line's wall time follows from it.
			took := time.Since(start)
			end := start.Add(took)
			info := &x.info
			metrics.observe(info.route, r.Method, x.status, took, info.protected, info.reason)
			if info.span != nil {
				endSpan(info.span, r.Method, x.status, info, end)
			}
			logRequest(r.Context(), log.Handler(), end, r.Method, x.status, took, info)
		})
	}
}

// maxLoggedMethod is how much of an unusual method the log line keeps.
const maxLoggedMethod = 20

// logMethod returns the method as the log line shows it: a known method
// as it is; any other cut to maxLoggedMethod bytes ("..." marks the cut),
// with every byte outside printable ASCII as '?'. A client chooses the
// method, and may make it 200 KiB long.
func logMethod(method string) string {
	if knownMethods[method] {
		return method
	}
	cut := len(method) > maxLoggedMethod
	if cut {
		method = method[:maxLoggedMethod]
	}
	b := []byte(method)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	if cut {
		b = append(b, "..."...)
	}
	return string(b)
}

// recoverPanics turns a panic into a 500 and logs its stack.
func recoverPanics(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic", "request_id", infoFrom(w).id,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeError(w, r, fmt.Errorf("panic: %v", v))
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// corsHeaders are the request headers cross-origin callers may send (a
// W3C traceparent and tracestate among them, so that an SPA's trace
// continues here), and corsExpose the response headers they may read.
var (
	corsHeaders = "Authorization, Content-Type, DPoP, X-Request-ID, traceparent, tracestate"
	corsExpose  = "WWW-Authenticate, DPoP-Nonce, X-Request-ID, Retry-After"
)

// Vary values of every answer and of preflight answers; like the values in
// errors.go, only ever assigned whole.
var (
	varyOrigin    = []string{"Origin"}
	varyPreflight = []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
)

// cors lets the allowed origins call the API from a browser: it answers
// preflights without a token, allowing methods (those the routes serve),
// and marks every answer, errors included, as readable by them. Other
// origins get no CORS headers.
func cors(allowed, methods []string) func(http.Handler) http.Handler {
	anyOrigin := slices.Contains(allowed, "*")
	corsMethods := strings.Join(methods, ", ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["Vary"] = varyOrigin
			origin := r.Header.Get("Origin")
			ok := origin != "" && (anyOrigin || slices.Contains(allowed, origin))
			allowOrigin := origin
			if anyOrigin {
				allowOrigin = "*"
			}
			if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
				h["Vary"] = varyPreflight
				if !ok {
					encode(w, http.StatusForbidden, errorBody{"cors_forbidden", "origin not allowed"})
					return
				}
				h.Set("Access-Control-Allow-Origin", allowOrigin)
				h.Set("Access-Control-Allow-Methods", corsMethods)
				h.Set("Access-Control-Allow-Headers", corsHeaders)
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if ok {
				h.Set("Access-Control-Allow-Origin", allowOrigin)
				h.Set("Access-Control-Expose-Headers", corsExpose)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// NormalizeOrigin checks an allowed-origin setting and returns it as
// browsers send it: scheme://host[:port], lower case, no path.
func NormalizeOrigin(s string) (string, error) {
	if s == "*" {
		return s, nil
	}
	s = strings.TrimSuffix(s, "/")
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || (scheme != "http" && scheme != "https") || rest == "" || strings.ContainsAny(rest, "/?#@ ") {
		return "", fmt.Errorf("%q is not an origin like https://app.example.com or http://localhost:3000", s)
	}
	return strings.ToLower(s), nil
}
