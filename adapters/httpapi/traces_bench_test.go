package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/adapters/otlp"
	"github.com/example/spaapi/app"
)

// What tracing costs /api/private (one repeated token), in one run:
// tracing off (no tracer: what the API runs without OTEL_*), and on, with
// the API's own OTLP/HTTP exporter posting batches to a loopback server
// that reads and drops them, sampling every trace and one in a hundred.
// Compare each with BenchmarkBareHandler and BenchmarkRouter in the same
// run:
//
//	go test -run '^$' -bench 'BareHandler|Router$|RouterTraced' -benchmem -count 3 ./adapters/httpapi/
func BenchmarkRouterTraced(b *testing.B) {
	iss := jwtverifytest.NewIssuer(b)
	tok := iss.Token(iss.Claims("auth0|bench", "read:messages"))
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(collector.Close)
	limiter := func() *memory.FailureLimiter {
		return memory.NewFailureLimiter(app.DefaultFailureLimit, memory.DefaultFailureLimiterSize, nil)
	}

	b.Run("off", func(b *testing.B) {
		h := benchRouterTraced(b, iss, memory.NewMessages(), limiter(), nil)
		b.ReportAllocs()
		for b.Loop() {
			serve(b, h, "/api/private", tok, 200)
		}
	})
	for _, tc := range []struct {
		name  string
		ratio float64
	}{{"sampled_1.0", 1}, {"sampled_0.01", 0.01}} {
		b.Run(tc.name, func(b *testing.B) {
			tp, err := otlp.Start(context.Background(), otlp.Config{
				Endpoint: collector.URL + "/v1/traces", Timeout: 5 * time.Second,
				Sampler: sdktrace.ParentBased(sdktrace.TraceIDRatioBased(tc.ratio)), ServiceName: "bench",
			}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			h := benchRouterTraced(b, iss, memory.NewMessages(), limiter(), tp)
			b.ReportAllocs()
			for b.Loop() {
				serve(b, h, "/api/private", tok, 200)
			}
		})
	}
}
