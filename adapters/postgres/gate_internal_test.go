package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	ann = ownerKey{class: 1, issuer: "https://i.example/", subject: "ann"}
	bob = ownerKey{class: 1, issuer: "https://i.example/", subject: "bob"}
)

// waitFor polls cond until it holds, failing t after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustEnter(t *testing.T, g *ownerGate, k ownerKey) func() {
	t.Helper()
	leave, err := g.enter(context.Background(), k)
	if err != nil {
		t.Fatalf("enter %v: %v", k, err)
	}
	return leave
}

// One request per owner is through at a time; another owner, or the
// same subject of another issuer or lock, does not wait.
func TestGateOnePerOwner(t *testing.T) {
	g := newOwnerGate()
	leaveAnn := mustEnter(t, g, ann)

	for _, other := range []ownerKey{bob, {class: 1, issuer: "https://other.example/", subject: "ann"}, {class: 2, issuer: ann.issuer, subject: ann.subject}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		leave, err := g.enter(ctx, other)
		cancel()
		if err != nil {
			t.Fatalf("%v waited behind ann: %v", other, err)
		}
		leave()
	}

	through := make(chan func())
	go func() {
		leave, err := g.enter(context.Background(), ann)
		if err != nil {
			t.Errorf("second ann: %v", err)
		}
		through <- leave
	}()
	waitFor(t, "the second request of ann to wait", func() bool { return g.stats().waiting == 1 })
	select {
	case <-through:
		t.Fatal("a second request of ann went through while the first was")
	case <-time.After(50 * time.Millisecond):
	}
	leaveAnn()
	leave := <-through
	if s := g.stats(); s.waiting != 0 || s.waited != 1 || s.owners != 1 {
		t.Errorf("with the second through: got %+v, want 0 waiting, 1 waited, 1 owner", s)
	}
	leave()
	if s := g.stats(); s.owners != 0 {
		t.Errorf("after both left: got %d owners in the map, want 0", s.owners)
	}
}

// A waiter whose context ends leaves at once, and leaves nothing behind;
// the one through is not disturbed, and the next waiter still gets in.
func TestGateCanceledWaiterLeaves(t *testing.T) {
	g := newOwnerGate()
	leaveFirst := mustEnter(t, g, ann)

	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error)
	go func() {
		_, err := g.enter(ctx, ann)
		gone <- err
	}()
	third := make(chan func())
	waitFor(t, "the first waiter", func() bool { return g.stats().waiting == 1 })
	go func() {
		leave, err := g.enter(context.Background(), ann)
		if err != nil {
			t.Errorf("third: %v", err)
		}
		third <- leave
	}()
	waitFor(t, "the second waiter", func() bool { return g.stats().waiting == 2 })

	cancel()
	select {
	case err := <-gone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("canceled waiter: got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a canceled waiter did not leave")
	}
	if s := g.stats(); s.waiting != 1 || s.owners != 1 {
		t.Errorf("after the cancel: got %+v, want 1 waiting, 1 owner", s)
	}
	leaveFirst()
	(<-third)()
	if s := g.stats(); s.owners != 0 || s.waiting != 0 {
		t.Errorf("at the end: got %+v, want an empty gate", s)
	}

	// A context already ended never goes through, even at an open gate
	// for an owner that is busy.
	leave := mustEnter(t, g, ann)
	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := g.enter(done, ann); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context at a busy owner: got %v", err)
	}
	leave()
	if s := g.stats(); s.owners != 0 {
		t.Errorf("got %d owners, want 0", s.owners)
	}
}

// Waiters go through in the order they came.
func TestGateFIFO(t *testing.T) {
	g := newOwnerGate()
	leave := mustEnter(t, g, ann)
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			l, err := g.enter(context.Background(), ann)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			l()
		})
		waitFor(t, fmt.Sprintf("waiter %d", i), func() bool { return g.stats().waiting == i+1 })
	}
	leave()
	wg.Wait()
	if fmt.Sprint(order) != "[0 1 2 3 4]" {
		t.Errorf("got order %v, want [0 1 2 3 4]", order)
	}
}

// Under contention, never two of one owner through at once, and the map
// is empty at the end: an owner's entry goes with its last request.
func TestGateExclusionAndBoundedMap(t *testing.T) {
	g := newOwnerGate()
	const owners, workers, rounds = 8, 64, 200
	var inside [owners]atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				o := (w + r) % owners
				leave, err := g.enter(context.Background(), ownerKey{class: 1, issuer: "i", subject: fmt.Sprint(o)})
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside[o].Add(1); n != 1 {
					t.Errorf("owner %d: %d through at once", o, n)
				}
				// Stay inside a moment so that others of this owner
				// arrive while it is held, on any scheduler.
				time.Sleep(20 * time.Microsecond)
				inside[o].Add(-1)
				leave()
			}
		})
	}
	wg.Wait()
	s := g.stats()
	if s.owners != 0 || s.waiting != 0 {
		t.Errorf("at the end: got %+v, want an empty gate", s)
	}
	if s.waited == 0 {
		t.Errorf("no request ever waited: the test did not contend")
	}
}
