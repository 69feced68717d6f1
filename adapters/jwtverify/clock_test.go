package jwtverify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

// boundary is one instant relative to a claim, and the expected outcome.
type boundary struct {
	at   time.Duration // offset from the claim's time
	want domain.Reason
}

// clockBoundaries lists, for a claim and a tolerance, the instants on
// both sides of where the claim's check switches, and exactly on it.
// exp is refused at exp+tolerance (RFC 7519 §4.1.4: "on or after");
// nbf and iat are accepted at claim-tolerance ("on or after").
func clockBoundaries(claim string, tol time.Duration) []boundary {
	half := 500 * time.Millisecond
	switch claim {
	case "exp":
		return []boundary{
			{-time.Hour, "ok"},
			{tol - half, "ok"},
			{tol - time.Nanosecond, "ok"},
			{tol, domain.ReasonExpired},
			{tol + half, domain.ReasonExpired},
		}
	case "nbf":
		return []boundary{
			{-tol - half, domain.ReasonNotYetValid},
			{-tol - time.Nanosecond, domain.ReasonNotYetValid},
			{-tol, "ok"},
			{-tol + half, "ok"},
		}
	default: // iat
		return []boundary{
			{-tol - half, domain.ReasonIssuedInFuture},
			{-tol - time.Nanosecond, domain.ReasonIssuedInFuture},
			{-tol, "ok"},
			{-tol + half, "ok"},
		}
	}
}

// clockClaims are a token's claims with claim at t0 and the others far
// enough from t0 not to matter.
func clockClaims(iss *jwtverifytest.Issuer, claim string, t0 time.Time) map[string]any {
	c := iss.Claims("auth0|alice")
	c["iat"] = t0.Add(-time.Hour).Unix()
	c["exp"] = t0.Add(time.Hour).Unix()
	c[claim] = t0.Unix()
	return c
}

// The configured tolerance is the whole leeway for exp, nbf and iat: a
// token half a second inside it is accepted, half a second outside it
// refused with the claim's reason, with the verifier's clock set to the
// instant (Options.Now), never by sleeping.
func TestClockToleranceBoundaries(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	t0 := time.Unix(time.Now().Unix(), 0) // claims are whole seconds
	for _, tol := range []time.Duration{0, 5 * time.Second, 90 * time.Second} {
		clk := jwtverifytest.NewStoppedClock(t0)
		cfg := newConfig(iss)
		cfg.ClockTolerance, cfg.Now = tol, clk.Now
		v := start(t, cfg)
		for _, claim := range []string{"exp", "nbf", "iat"} {
			tok := iss.Token(clockClaims(iss, claim, t0))
			for _, b := range clockBoundaries(claim, tol) {
				t.Run(fmt.Sprintf("tolerance %v/%s%+v", tol, claim, b.at), func(t *testing.T) {
					clk.Set(t0.Add(b.at))
					_, err := v.Verify(context.Background(), tok)
					if got := reasonOf(t, err); got != b.want {
						t.Errorf("%s at %v with tolerance %v: got %q (%v), want %q", claim, b.at, tol, got, err, b.want)
					}
				})
			}
		}
	}
}

// A cached token is held to the same boundaries: the hit path checks exp
// (plus tolerance) itself, and nbf and iat (less tolerance) for a clock
// that steps back, so it never accepts what a full verification refuses.
func TestCacheHitClockBoundaries(t *testing.T) {
	const tol = 5 * time.Second
	half := 500 * time.Millisecond
	t0 := time.Unix(time.Now().Unix(), 0)
	for _, tc := range []struct {
		claim    string
		verified time.Duration // when the token is first verified and cached
		hit      time.Duration // a later instant, still inside: a cache hit
		outside  time.Duration // the first instant outside
		past     time.Duration // half a second outside
		want     domain.Reason
	}{
		{"exp", -time.Minute, tol - half, tol, tol + half, domain.ReasonExpired},
		{"nbf", -tol + half, -tol, -tol - time.Nanosecond, -tol - half, domain.ReasonNotYetValid},
		{"iat", -tol + half, -tol, -tol - time.Nanosecond, -tol - half, domain.ReasonIssuedInFuture},
	} {
		for _, outside := range []time.Duration{tc.outside, tc.past} {
			t.Run(fmt.Sprintf("%s%+v", tc.claim, outside), func(t *testing.T) {
				iss := jwtverifytest.NewIssuer(t)
				clk := jwtverifytest.NewStoppedClock(t0.Add(tc.verified))
				cfg := newConfig(iss)
				cfg.ClockTolerance, cfg.Now, cfg.CacheSize, cfg.CacheTTL = tol, clk.Now, 100, time.Hour
				reg := prometheus.NewRegistry()
				v := newVerifier(t, cfg, quiet, reg)
				waitReady(t, v)
				tok := iss.Token(clockClaims(iss, tc.claim, t0))
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
				clk.Set(t0.Add(outside))
				if _, err := v.Verify(ctx, tok); reasonOf(t, err) != tc.want {
					t.Errorf("cached, at %v: got %v, want %s", outside, err, tc.want)
				}
				if h := metric(t, reg, "token_cache_hits_total"); h != 1 {
					t.Errorf("cache hits after the refusal: got %v, want still 1", h)
				}
			})
		}
	}
}

// Every time check reads Options.Now: with the clock a day ahead, a
// token valid by the wall clock is expired, and one not valid for
// another day is accepted (cache on or off).
func TestEveryTimeCheckUsesTheClock(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	day := 24 * time.Hour
	for _, size := range []int{0, 100} {
		t.Run(fmt.Sprintf("cache size %d", size), func(t *testing.T) {
			clk := jwtverifytest.NewStoppedClock(time.Now().Add(day))
			cfg := newConfig(iss)
			cfg.Now, cfg.CacheSize = clk.Now, size
			v := start(t, cfg)
			ctx := context.Background()
			now := iss.Claims("auth0|alice") // valid by the wall clock for an hour
			if _, err := v.Verify(ctx, iss.Token(now)); reasonOf(t, err) != domain.ReasonExpired {
				t.Errorf("token of today, clock a day ahead: got %v, want expired", err)
			}
			tomorrow := iss.Claims("auth0|alice")
			tomorrow["iat"], tomorrow["nbf"] = time.Now().Add(day).Unix(), time.Now().Add(day).Unix()
			tomorrow["exp"] = time.Now().Add(day + time.Hour).Unix()
			tok := iss.Token(tomorrow)
			for i := range 2 { // the second one from the cache when it is on
				if _, err := v.Verify(ctx, tok); err != nil {
					t.Errorf("token of tomorrow, clock a day ahead (%d): got %v, want accepted", i, err)
				}
			}
		})
	}
}
