package httpapi_test

import (
	"net/http/httptest"
	"testing"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/limitertest"
)

// What a forged token (the issuer's kid, another key's signature) costs
// the full router: checked (no limit, or below it), and refused by the
// failure limit once its address is blocked.
//
//	go test -run '^$' -bench RouterForged -benchmem ./adapters/httpapi/
func BenchmarkRouterForged(b *testing.B) {
	iss := jwtverifytest.NewIssuer(b)
	forged := jwtverifytest.Sign(b, jwtverifytest.NewRSAKey(b, iss.Key.KID, 1), jwtverifytest.Header(iss.Key), iss.Claims("auth0|mallory"))
	run := func(b *testing.B, limiter ports.FailureLimiter, want int) {
		h := benchRouterLimited(b, iss, memory.NewMessages(), limiter)
		req := httptest.NewRequest("GET", "/api/private", nil)
		req.RemoteAddr = "203.0.113.7:40000"
		req.Header.Set("Authorization", "Bearer "+forged)
		for range app.DefaultFailureLimit.Failures {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want {
				b.Fatalf("got %d, want %d", rec.Code, want)
			}
		}
	}
	b.Run("checked", func(b *testing.B) { run(b, nil, 401) })
	b.Run("blocked", func(b *testing.B) {
		// A stopped clock: the block would pass after a second, and let
		// one forged token a second be checked.
		stopped := limitertest.NewClock()
		run(b, memory.NewFailureLimiter(app.DefaultFailureLimit, memory.DefaultFailureLimiterSize, stopped.Now), 429)
	})
}
