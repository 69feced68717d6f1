package introspection_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

// An active answer's exp, nbf and iat are checked with the configured
// tolerance as a JWT's are: half a second inside it accepted, on and
// past its edge refused with the member's reason, with Config.Now set to
// the instant, never by sleeping.
func TestClockToleranceBoundaries(t *testing.T) {
	const tol = 5 * time.Second
	half := 500 * time.Millisecond
	t0 := time.Unix(time.Now().Unix(), 0) // members are whole seconds
	s := newServer(t, false)
	clk := jwtverifytest.NewStoppedClock(t0)
	cfg := config(s)
	cfg.Now, cfg.CacheSize = clk.Now, 0 // every verification asks the server
	v := start(t, cfg)
	for _, tc := range []struct {
		member string
		at     time.Duration // offset from the member's time
		want   domain.Reason
	}{
		{"exp", tol - half, "ok"},
		{"exp", tol - time.Nanosecond, "ok"},
		{"exp", tol, domain.ReasonExpired},
		{"exp", tol + half, domain.ReasonExpired},
		{"nbf", -tol + half, "ok"},
		{"nbf", -tol, "ok"},
		{"nbf", -tol - time.Nanosecond, domain.ReasonNotYetValid},
		{"nbf", -tol - half, domain.ReasonNotYetValid},
		{"iat", -tol + half, "ok"},
		{"iat", -tol, "ok"},
		{"iat", -tol - time.Nanosecond, domain.ReasonIssuedInFuture},
		{"iat", -tol - half, domain.ReasonIssuedInFuture},
	} {
		t.Run(fmt.Sprintf("%s%+v", tc.member, tc.at), func(t *testing.T) {
			a := active("u", nil, time.Hour)
			a["iat"], a["exp"] = t0.Add(-time.Hour).Unix(), t0.Add(time.Hour).Unix()
			a[tc.member] = t0.Unix()
			tok := opaque()
			s.set(tok, a)
			clk.Set(t0.Add(tc.at))
			_, err := v.Verify(context.Background(), tok)
			if got := jwtverifytest.Reason(t, err); got != tc.want {
				t.Errorf("%s at %v: got %q (%v), want %q", tc.member, tc.at, got, err, tc.want)
			}
		})
	}
}

// A cached answer is held to the same edges: a hit half a second before
// exp + tolerance, none on it (the server is asked again, and its answer
// is expired); before nbf - tolerance, with a clock that steps back, no
// hit either.
func TestCacheHitClockBoundaries(t *testing.T) {
	const tol = 5 * time.Second
	half := 500 * time.Millisecond
	t0 := time.Unix(time.Now().Unix(), 0)
	for _, tc := range []struct {
		member                 string
		verified, hit, outside time.Duration
		want                   domain.Reason
	}{
		{"exp", -time.Minute, tol - half, tol, domain.ReasonExpired},
		{"exp", -time.Minute, tol - half, tol + half, domain.ReasonExpired},
		{"nbf", -tol + half, -tol, -tol - time.Nanosecond, domain.ReasonNotYetValid},
		{"nbf", -tol + half, -tol, -tol - half, domain.ReasonNotYetValid},
	} {
		t.Run(fmt.Sprintf("%s%+v", tc.member, tc.outside), func(t *testing.T) {
			s := newServer(t, false)
			clk := jwtverifytest.NewStoppedClock(t0.Add(tc.verified))
			cfg := config(s)
			cfg.Now, cfg.CacheTTL = clk.Now, 10*time.Minute
			reg := prometheus.NewRegistry()
			v, _ := startLogged(t, cfg, reg)
			a := active("u", nil, time.Hour)
			a["iat"], a["exp"] = t0.Add(-time.Hour).Unix(), t0.Add(time.Hour).Unix()
			a[tc.member] = t0.Unix()
			tok := opaque()
			s.set(tok, a)
			ctx := context.Background()

			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("at %v: got %v, want accepted", tc.verified, err)
			}
			clk.Set(t0.Add(tc.hit))
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("cached, at %v: got %v, want accepted", tc.hit, err)
			}
			if h := metric(t, reg, "token_cache_hits_total"); h != 1 {
				t.Fatalf("cache hits after the second verification: got %v, want 1", h)
			}
			clk.Set(t0.Add(tc.outside))
			if _, err := v.Verify(ctx, tok); jwtverifytest.Reason(t, err) != tc.want {
				t.Errorf("cached, at %v: got %v, want %s", tc.outside, err, tc.want)
			}
		})
	}
}
