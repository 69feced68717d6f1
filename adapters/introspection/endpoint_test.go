package introspection_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

// Connections to the endpoint are kept alive: with MaxInFlight requests
// in flight all the time, the endpoint sees at most MaxInFlight
// connections, however many tokens are introspected (http.Transport's
// default keeps 2 idle per host, and opened a new connection for most
// requests). Over https too, where the caller's client (its trusted
// certificate) is kept.
func TestConnectionsKeptAlive(t *testing.T) {
	const inFlight, perWorker = 8, 50
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
			if n := s.conns.Load(); n > inFlight {
				t.Errorf("%d introspections, %d at a time, opened %d connections; want at most %d", inFlight*perWorker, inFlight, n, inFlight)
			}
			s.checkRequests()
		})
	}
}
