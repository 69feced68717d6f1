package introspection_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/introspection"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

// Connections to the endpoint are kept alive: with MaxInFlight requests
// in flight all the time, the endpoint sees about MaxInFlight
// connections, however many tokens are introspected (http.Transport's
// default keeps 2 idle per host, and opened more whenever requests
// overlapped: 13 to 28 for 800 here). Over https too, where the caller's
// client (its trusted certificate) is kept. slack allows for net/http
// itself closing a connection now and then on a loaded machine: an answer
// read before its own writing goroutine reported the request sent (within
// 50 ms) does not let the connection be reused.
func TestConnectionsKeptAlive(t *testing.T) {
	const inFlight, perWorker, slack = 8, 100, 2
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			s := newServer(t, tls)
			s.misbehave(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(time.Millisecond) // so that requests overlap
				s.answer(w, r)
			})
			cfg := config(s)
			cfg.MaxInFlight, cfg.CacheSize = inFlight, 0
			if tls {
				cfg.HTTPClient = s.Client()
			}
			v := start(t, cfg)
			var wg sync.WaitGroup
			errs := make(chan error, inFlight*perWorker)
			for range inFlight {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range perWorker {
						_, err := v.Verify(context.Background(), opaque())
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				var te *domain.TokenError
				if !errors.As(err, &te) || te.Reason != domain.ReasonInactive {
					t.Fatalf("an unknown token: got %v, want %s", err, domain.ReasonInactive)
				}
			}
			if n := s.requests.Load(); n != inFlight*perWorker {
				t.Errorf("requests: got %d, want %d", n, inFlight*perWorker)
			}
			t.Logf("%d introspections, %d at a time: %d connections", inFlight*perWorker, inFlight, s.conns.Load())
			if n := s.conns.Load(); n > inFlight+slack {
				t.Errorf("%d introspections, %d at a time, opened %d connections; want at most %d", inFlight*perWorker, inFlight, n, inFlight+slack)
			}
			s.checkRequests()
		})
	}
}

// While the endpoint refuses the API's credentials (401 or 403), tokens
// are answered 503 naming the introspection endpoint and Ready fails,
// saying why; once it accepts them again, Ready succeeds, whether a
// token's answer or Ready's own probe brings the news. Probes are at most
// one per ProbeInterval, however often Ready is asked.
func TestReadyWhileCredentialsRefused(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := newServer(t, false)
			refuse := func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
				http.Error(w, `{"error":"invalid_client"}`, status)
			}
			s.misbehave(refuse)
			clk := jwtverifytest.NewStoppedClock(time.Now())
			cfg := config(s)
			cfg.Now = clk.Now
			v, logs := startLogged(t, cfg, prometheus.NewRegistry())
			ctx := context.Background()
			wantRefused := func(when string) {
				t.Helper()
				err := v.Ready(ctx)
				var ue *domain.UnavailableError
				if !errors.Is(err, domain.ErrUnavailable) || !errors.As(err, &ue) || ue.What != "the token introspection endpoint" ||
					!strings.Contains(err.Error(), fmt.Sprintf("refuses this API's credentials (status %d)", status)) {
					t.Errorf("%s: Ready: got %v, want unavailable: the endpoint refuses this API's credentials (status %d)", when, err, status)
				}
			}

			wantRefused("at start")
			if n := s.requests.Load(); n != 1 {
				t.Errorf("at start: %d requests, want 1 (the probe)", n)
			}
			if !strings.Contains(logs.String(), "the introspection endpoint refuses this API's credentials") {
				t.Errorf("the log does not say the credentials are refused:\n%s", logs)
			}
			var concurrent sync.WaitGroup
			for range 50 {
				concurrent.Add(1)
				go func() { defer concurrent.Done(); v.Ready(ctx) }()
			}
			concurrent.Wait()
			if n := s.requests.Load(); n != 1 {
				t.Errorf("50 more Ready calls within ProbeInterval: %d requests, want 1", n)
			}

			tok := opaque()
			s.set(tok, active("u", nil, time.Hour))
			_, err := v.Verify(ctx, tok)
			var ue *domain.UnavailableError
			if !errors.As(err, &ue) || ue.What != "the token introspection endpoint" || errors.Is(err, domain.ErrInvalidToken) {
				t.Errorf("a token while refused: got %v, want unavailable naming the token introspection endpoint", err)
			}

			// The endpoint down says nothing of the credentials.
			s.misbehave(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
			clk.Set(clk.Now().Add(introspection.ProbeInterval))
			wantRefused("refused, then the endpoint down")

			// Accepted again: Ready's probe finds out once ProbeInterval
			// has passed since the last answer.
			s.misbehave(nil)
			wantRefused("accepted again, within ProbeInterval of the last answer")
			clk.Set(clk.Now().Add(introspection.ProbeInterval))
			if err := v.Ready(ctx); err != nil {
				t.Errorf("accepted again, after ProbeInterval: Ready: got %v, want nil", err)
			}
			if !strings.Contains(logs.String(), "the introspection endpoint accepts this API's credentials again") {
				t.Errorf("the log does not say the credentials are accepted again:\n%s", logs)
			}
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Errorf("a token once accepted again: got %v", err)
			}

			// Refused again, then accepted again, as tokens' answers say:
			// no probe needed.
			s.misbehave(refuse)
			if _, err := v.Verify(ctx, opaque()); !errors.Is(err, domain.ErrUnavailable) {
				t.Errorf("refused again: a token got %v, want unavailable", err)
			}
			wantRefused("refused again, as a token's answer said")
			s.misbehave(nil)
			before := s.requests.Load()
			if _, err := v.Verify(ctx, opaque()); jwtverifytest.Reason(t, err) != domain.ReasonInactive {
				t.Errorf("accepted again: an unknown token got %v, want %s", err, domain.ReasonInactive)
			}
			if err := v.Ready(ctx); err != nil {
				t.Errorf("accepted again, as a token's answer said: Ready: got %v, want nil", err)
			}
			if n := s.requests.Load() - before; n != 1 {
				t.Errorf("accepted again, as a token's answer said: %d requests, want 1 (no probe)", n)
			}
		})
	}
}

// An endpoint that is down when Ready first asks leaves the API ready:
// only a refusal of its credentials takes readiness away.
func TestReadyWithTheEndpointDown(t *testing.T) {
	s := newServer(t, false)
	s.misbehave(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
	v := start(t, config(s))
	if err := v.Ready(context.Background()); err != nil {
		t.Errorf("Ready with the endpoint answering 502: got %v, want nil", err)
	}
	if n := s.requests.Load(); n != 1 {
		t.Errorf("requests: got %d, want 1 (the probe)", n)
	}
}
