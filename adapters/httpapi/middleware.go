package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

type ctxKey int

const infoKey ctxKey = 0

// requireAuth lets a request through only with a valid access token (and,
// for a DPoP-bound token, its proof), and gives handlers its principal
// (principalFrom). htu rebuilds the URL a DPoP proof must name.
func requireAuth(auth *app.Auth, htu func(*http.Request) string) mux.MiddlewareFunc {
	offered := newSchemes(auth)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Cache-Control"] = noStore
			info := infoFrom(r.Context())
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
			if err == nil {
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
		if err := auth.Authorize(r.Context(), principalFrom(r.Context()), policy); err != nil {
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// principalFrom returns the principal requireAuth stored. Handlers behind
// requireAuth always have one.
func principalFrom(ctx context.Context) domain.Principal {
	return infoFrom(ctx).principal
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
	reason    string
	err       error
}

// infoFrom returns the request's info, or a throwaway one outside logRequests.
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// recordRoute notes the matched route's template (not the raw path) for the log.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route := mux.CurrentRoute(r); route != nil {
			if tpl, err := route.GetPathTemplate(); err == nil {
				infoFrom(r.Context()).route = tpl
			}
		}
		next.ServeHTTP(w, r)
	})
}

// withRequestID gives every request an ID: the caller's X-Request-ID if it
// is short and plain, else a random one. It is echoed in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !plainID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		info := &requestInfo{id: id}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey, info)))
	})
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

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests writes one JSON log line per request: method, route template,
// status, duration, request ID, and the subject or the refusal reason.
// Never the token, the Authorization header or the raw path. It also
// records the request's metrics.
func logRequests(log *slog.Logger, metrics *Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			took := time.Since(start)
			info := infoFrom(r.Context())
			metrics.observe(info.route, r.Method, rec.status, took, info.protected, info.reason)
			attrs := []slog.Attr{
				slog.String("method", logMethod(r.Method)),
				slog.String("route", info.route),
				slog.Int("status", rec.status),
				slog.Float64("duration_ms", float64(took.Microseconds())/1000),
				slog.String("request_id", info.id),
			}
			if info.principal.Subject != "" {
				attrs = append(attrs, slog.String("subject", info.principal.Subject))
			}
			if info.reason != "" {
				attrs = append(attrs, slog.String("reason", info.reason))
			}
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
				if info.err != nil {
					attrs = append(attrs, slog.String("error", info.err.Error()))
				}
			}
			log.LogAttrs(r.Context(), level, "request", attrs...)
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
				log.ErrorContext(r.Context(), "panic", "request_id", infoFrom(r.Context()).id,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeError(w, r, fmt.Errorf("panic: %v", v))
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// corsHeaders are the request headers cross-origin callers may send, and
// corsExpose the response headers they may read.
var (
	corsHeaders = "Authorization, Content-Type, DPoP, X-Request-ID"
	corsExpose  = "WWW-Authenticate, DPoP-Nonce, X-Request-ID, Retry-After"
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
			h.Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			ok := origin != "" && (anyOrigin || slices.Contains(allowed, origin))
			allowOrigin := origin
			if anyOrigin {
				allowOrigin = "*"
			}
			if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
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
