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

// A cached answer is held to nbf's edge: a hit at nbf - tolerance, none
// before it, with a clock that steps back. (exp's edge for cached
// answers is exp itself: TestCachedAnswerEndsAtExp.)
func TestCacheHitClockBoundaries(t *testing.T) {
	const tol = 5 * time.Second
	half := 500 * time.Millisecond
	t0 := time.Unix(time.Now().Unix(), 0)
	for _, tc := range []struct {
		member                 string
		verified, hit, outside time.Duration
		want                   domain.Reason
	}{
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

// RFC 7662 §4: a cached answer is never used past the token's exp, and
// the clock tolerance (5 s here) is not added to it. Verified a minute
// before exp, the token's cache entry serves a millisecond before exp;
// at exp and a millisecond after, the endpoint is asked again, and its
// answer (inactive, as an issuer says of an expired token) refuses it.
func TestCachedAnswerEndsAtExp(t *testing.T) {
	exp := time.Unix(time.Now().Unix()+3600, 0) // whole seconds, as in answers
	for _, tc := range []struct {
		at       time.Duration // from exp
		want     domain.Reason
		requests int64
		hits     float64
	}{
		{-time.Millisecond, "ok", 1, 1},
		{0, domain.ReasonInactive, 2, 0},
		{time.Millisecond, domain.ReasonInactive, 2, 0},
	} {
		t.Run(fmt.Sprintf("exp%+v", tc.at), func(t *testing.T) {
			s := newServer(t, false)
			clk := jwtverifytest.NewStoppedClock(exp.Add(-time.Minute))
			cfg := config(s)
			cfg.Now, cfg.CacheTTL = clk.Now, 10*time.Minute
			reg := prometheus.NewRegistry()
			v, _ := startLogged(t, cfg, reg)
			a := active("u", nil, time.Hour)
			a["iat"], a["exp"] = exp.Add(-time.Hour).Unix(), exp.Unix()
			tok := opaque()
			s.set(tok, a)
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("a minute before exp: got %v, want accepted", err)
			}
			s.set(tok, map[string]any{"active": false})
			clk.Set(exp.Add(tc.at))
			_, err := v.Verify(context.Background(), tok)
			if got := jwtverifytest.Reason(t, err); got != tc.want {
				t.Errorf("at exp%+v: got %q (%v), want %q", tc.at, got, err, tc.want)
			}
			if n := s.requests.Load(); n != tc.requests {
				t.Errorf("at exp%+v: %d requests to the endpoint, want %d", tc.at, n, tc.requests)
			}
			if h := metric(t, reg, "token_cache_hits_total"); h != tc.hits {
				t.Errorf("at exp%+v: %v cache hits, want %v", tc.at, h, tc.hits)
			}
		})
	}
}

// The endpoint is the authority on whether a token is active: a fresh
// answer saying active a little past exp by this clock (the issuer's
// clock is behind) is accepted within the clock tolerance, as a JWT's exp
// is, but never cached: each verification asks again, until the endpoint
// says inactive or the tolerance is spent.
func TestFreshAnswerPastExpWithinTolerance(t *testing.T) {
	const tol = 5 * time.Second
	exp := time.Unix(time.Now().Unix()+3600, 0)
	s := newServer(t, false)
	clk := jwtverifytest.NewStoppedClock(exp.Add(time.Millisecond))
	cfg := config(s)
	cfg.Now, cfg.CacheTTL = clk.Now, 10*time.Minute
	reg := prometheus.NewRegistry()
	v, _ := startLogged(t, cfg, reg)
	a := active("u", nil, time.Hour)
	a["iat"], a["exp"] = exp.Add(-time.Hour).Unix(), exp.Unix()
	tok := opaque()
	s.set(tok, a)
	for i := range 2 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("verification %d at exp+1ms, the endpoint saying active: got %v, want accepted", i, err)
		}
	}
	if n := s.requests.Load(); n != 2 {
		t.Errorf("two verifications past exp: %d requests, want 2 (nothing cached)", n)
	}
	if h := metric(t, reg, "token_cache_hits_total"); h != 0 {
		t.Errorf("cache hits past exp: got %v, want 0", h)
	}
	clk.Set(exp.Add(tol))
	if _, err := v.Verify(context.Background(), tok); jwtverifytest.Reason(t, err) != domain.ReasonExpired {
		t.Errorf("at exp + tolerance, the endpoint still saying active: got %v, want %s", err, domain.ReasonExpired)
	}
}
