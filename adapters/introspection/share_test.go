package introspection_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

// Unknown tokens from one client address hold at most its share of the
// slots: its next token is unavailable at once, without a request, while
// another client still gets a slot; when one of its requests ends, it has
// a slot again. VerifyFrom says which verifications called the endpoint.
func TestOneClientHoldsAtMostItsShareOfSlots(t *testing.T) {
	s := newServer(t, false)
	release := make(chan struct{})
	releaseAll := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseAll) // before the server's Close, should the test fail
	started := make(chan struct{}, 16)
	s.misbehave(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		s.answer(w, r)
	})
	cfg := config(s)
	cfg.MaxInFlight, cfg.MaxInFlightPerClient = 6, 2
	v := start(t, cfg)
	ctx := context.Background()

	type outcome struct {
		called bool
		err    error
	}
	var wg sync.WaitGroup
	results := make(chan outcome, 8)
	verify := func(client, token string) {
		wg.Go(func() {
			_, called, err := v.VerifyFrom(ctx, client, token)
			results <- outcome{called, err}
		})
	}
	for range 2 {
		verify("203.0.113.7", opaque())
		<-started
	}
	// Its share is taken: a third token is refused at once, no request
	// (were it sent, it would wait for release, and time out).
	third, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, called, err := v.VerifyFrom(third, "203.0.113.7", opaque())
	if !errors.Is(err, domain.ErrUnavailable) || called {
		t.Fatalf("a third token from the same client: got called=%v, %v; want no call and ErrUnavailable", called, err)
	}
	if n := s.requests.Load(); n != 2 {
		t.Fatalf("requests to the endpoint: got %d, want 2", n)
	}
	// Another client, and a request with no client address, still get
	// slots; the same token from another client waits for its answer
	// without a call of its own.
	shared := opaque()
	verify("198.51.100.1", shared)
	<-started
	verify("", opaque())
	<-started
	verify("192.0.2.9", shared)
	time.Sleep(50 * time.Millisecond) // a follower would have been waiting by now
	if n := s.requests.Load(); n != 4 {
		t.Fatalf("requests to the endpoint: got %d, want 4", n)
	}
	releaseAll()
	wg.Wait()
	close(results)
	calls, waits := 0, 0
	for o := range results {
		if !errors.Is(o.err, domain.ErrInvalidToken) {
			t.Errorf("an unknown token: got %v, want ErrInvalidToken (inactive)", o.err)
		}
		if o.called {
			calls++
		} else {
			waits++
		}
	}
	if calls != 4 || waits != 1 {
		t.Errorf("called: got %d true and %d false, want 4 and 1 (the request that waited for another's call)", calls, waits)
	}
	// The share is back.
	s.misbehave(nil)
	for range 3 {
		if _, called, err := v.VerifyFrom(ctx, "203.0.113.7", opaque()); !errors.Is(err, domain.ErrInvalidToken) || !called {
			t.Fatalf("the client once its requests ended: got called=%v, %v; want a call and ErrInvalidToken", called, err)
		}
	}
	// A cached answer is no call.
	tok := opaque()
	s.set(tok, active("alice", nil, time.Hour))
	if _, called, err := v.VerifyFrom(ctx, "203.0.113.7", tok); err != nil || !called {
		t.Fatalf("an active token: got called=%v, %v", called, err)
	}
	if _, called, err := v.VerifyFrom(ctx, "203.0.113.7", tok); err != nil || called {
		t.Fatalf("the same token again (cached): got called=%v, %v; want no call", called, err)
	}
}
