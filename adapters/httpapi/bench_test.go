package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// The full router (middleware, routing, the auth0 verifier with its cache,
// JSON logs to io.Discard through a LogHandler as in cmd/api, metrics), driven in-process:
//
//	go test -run '^$' -bench Router -benchmem ./adapters/httpapi/

func benchRouter(b *testing.B, iss *jwtverifytest.Issuer, stores ...ports.MessageStore) http.Handler {
	b.Helper()
	var store ports.MessageStore = memory.NewMessages()
	if len(stores) > 0 {
		store = stores[0]
	}
	return benchRouterLimited(b, iss, store, memory.NewFailureLimiter(app.DefaultFailureLimit, memory.DefaultFailureLimiterSize, nil))
}

// benchRouterLimited is benchRouter with the failure limiter limiter (nil: none).
func benchRouterLimited(b *testing.B, iss *jwtverifytest.Issuer, store ports.MessageStore, limiter ports.FailureLimiter) http.Handler {
	return benchRouterTraced(b, iss, store, limiter, nil)
}

// benchRouterTraced is benchRouterLimited with the router and the verifier
// given tracers of tp, as cmd/api does with OTEL_* set (nil: off).
func benchRouterTraced(b *testing.B, iss *jwtverifytest.Issuer, store ports.MessageStore, limiter ports.FailureLimiter, tp trace.TracerProvider) http.Handler {
	b.Helper()
	var cfg httpapi.Config
	opts := jwtverify.Options{ClockTolerance: 5 * time.Second, CacheSize: jwtverify.DefaultCacheSize, CacheTTL: jwtverify.DefaultCacheTTL}
	if tp != nil {
		cfg.Tracer = tp.Tracer("github.com/example/spaapi/adapters/httpapi")
		opts.Tracer, opts.Provider = tp.Tracer("github.com/example/spaapi/adapters/auth0"), "auth0"
	}
	reg := prometheus.NewRegistry()
	v, cleanup, err := auth0.New(context.Background(), auth0.Config{
		IssuerBaseURL: iss.URL, Audiences: []string{jwtverifytest.Audience}, Options: opts,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cleanup)
	for v.Ready(context.Background()) != nil {
		time.Sleep(5 * time.Millisecond)
	}
	m, err := httpapi.NewMetrics(reg)
	if err != nil {
		b.Fatal(err)
	}
	proofs, replay := newProofs(b, nil)
	cfg.AllowedOrigins = []string{"http://localhost:5173"}
	return httpapi.NewRouter(cfg, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, limiter),
		Health:   app.NewHealth(v, ports.Stores{Database: store, Messages: store}, replay),
		Messages: app.NewMessages(store, app.DefaultMessageQuota),
	}, slog.New(httpapi.NewLogHandler(io.Discard)), m)
}

func serve(b *testing.B, h http.Handler, path, token string, want int) {
	req := httptest.NewRequest("GET", path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s: got %d, want %d", path, rec.Code, want)
	}
}

var (
	distinctOnce   sync.Once
	distinctIssuer *jwtverifytest.Issuer
	distinct       []string
)

// distinctTokens returns 10,000 valid tokens for different subjects.
func distinctTokens(b *testing.B) (*jwtverifytest.Issuer, []string) {
	distinctOnce.Do(func() {
		distinctIssuer = jwtverifytest.NewIssuer(&testing.T{})
		for i := range 10_000 {
			distinct = append(distinct, distinctIssuer.Token(distinctIssuer.Claims(fmt.Sprintf("auth0|user-%d", i))))
		}
	})
	return distinctIssuer, distinct
}

// BenchmarkBareHandler is the reference for BenchmarkRouter: a plain
// net/http handler writing the same JSON body (as .ci/bareserver does),
// served the same request, the Authorization header included, through the
// same httptest request and recorder. What it allocates is the floor.
func BenchmarkBareHandler(b *testing.B) {
	body := []byte(`{"message":"Hello from a private endpoint! You need to be authenticated to see this."}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	iss := jwtverifytest.NewIssuer(b)
	tok := iss.Token(iss.Claims("auth0|bench", "read:messages"))
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, "/api/private", tok, 200)
	}
}

func BenchmarkRouter(b *testing.B) {
	iss := jwtverifytest.NewIssuer(b)
	h := benchRouter(b, iss)
	tok := iss.Token(iss.Claims("auth0|bench", "read:messages"))

	b.Run("public", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, h, "/api/public", "", 200)
		}
	})
	b.Run("private_repeated_token", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, h, "/api/private", tok, 200)
		}
	})
	b.Run("private_10000_distinct_tokens", func(b *testing.B) {
		iss, toks := distinctTokens(b)
		h := benchRouter(b, iss)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			serve(b, h, "/api/private", toks[i%len(toks)], 200)
			i++
		}
	})
}

// GET /api/messages, a page of 50 of 10,000 stored messages of 140
// characters, from the in-memory store: what the HTTP side costs.
func BenchmarkRouterMessages(b *testing.B) {
	iss := jwtverifytest.NewIssuer(b)
	store := memory.NewMessagesOfSize(20_000)
	t0 := time.Now()
	text := strings.Repeat("a message of moderate length ", 5)[:140]
	for i := range 10_000 {
		m, err := domain.NewMessage(fmt.Sprintf("%024x", i), domain.Principal{Issuer: iss.URL, Subject: fmt.Sprint("user-", i%100)}, text, t0.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Add(context.Background(), m, 1000); err != nil {
			b.Fatal(err)
		}
	}
	h := benchRouter(b, iss, store)
	tok := iss.Token(iss.Claims("auth0|bench", "read:messages"))
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, "/api/messages", tok, 200)
	}
}
