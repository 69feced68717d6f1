package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

var (
	alice = caller{"https://issuer.example/", "alice"}
	bob   = caller{"https://issuer.example/", "bob"}
	carol = caller{"https://issuer.example/", "carol"}
)

// testBudget is a budget of size bytes, share of them per caller, with
// wait as the longest wait.
func testBudget(size, share int64, wait time.Duration) *AnswerBudget {
	b := NewAnswerBudget(size)
	b.share, b.wait = share, wait
	return b
}

func mustAcquire(t *testing.T, b *AnswerBudget, c caller, n int64) *answerBytes {
	t.Helper()
	a, err := b.acquire(context.Background(), c, n)
	if err != nil {
		t.Fatalf("acquire %d for %s: %v", n, c.subject, err)
	}
	return a
}

func wantUsed(t *testing.T, b *AnswerBudget, want int64) {
	t.Helper()
	if got := b.Used(); got != want {
		t.Errorf("bytes held: got %d, want %d", got, want)
	}
}

func TestAnswerBudgetAcquireRelease(t *testing.T) {
	b := testBudget(100, 100, time.Second)
	a1 := mustAcquire(t, b, alice, 30)
	a2 := mustAcquire(t, b, bob, 70)
	wantUsed(t, b, 100)
	a1.release()
	wantUsed(t, b, 70)
	a1.release() // twice: nothing more is given back
	wantUsed(t, b, 70)
	a2.release()
	wantUsed(t, b, 0)
	if len(b.byCaller) != 0 {
		t.Errorf("callers still counted after every release: %v", b.byCaller)
	}
	var none *answerBytes
	none.release() // a request refused before it held anything
}

// A request that does not fit waits, and gets its bytes as soon as they
// are given back.
func TestAnswerBudgetWaits(t *testing.T) {
	b := testBudget(100, 100, 10*time.Second)
	a := mustAcquire(t, b, alice, 80)
	got := make(chan error, 1)
	go func() {
		held, err := b.acquire(context.Background(), bob, 50)
		if err == nil && held.n != 50 {
			err = errors.New("granted the wrong size")
		}
		got <- err
	}()
	waitFor(t, "bob waiting", func() bool { return waiters(b) == 1 })
	select {
	case err := <-got:
		t.Fatalf("bob did not wait for bytes: %v", err)
	default:
	}
	a.release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("bob after alice's release: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bob still waits after alice gave her bytes back")
	}
	wantUsed(t, b, 50)
}

// Past the wait, the request is refused (503) and leaves nothing behind.
func TestAnswerBudgetRefusesWhenFull(t *testing.T) {
	b := testBudget(100, 100, 20*time.Millisecond)
	a := mustAcquire(t, b, alice, 80)
	_, err := b.acquire(context.Background(), bob, 50)
	var be *budgetError
	if !errors.As(err, &be) || be.share {
		t.Fatalf("bob: got %v, want the budget's refusal", err)
	}
	if be.held != 80 || be.max != 100 || be.n != 50 {
		t.Errorf("refusal says %d asked, %d of %d held; want 50, 80 of 100", be.n, be.held, be.max)
	}
	if b.refusedBusy.Load() != 1 || waiters(b) != 0 {
		t.Errorf("refused %d, waiters %d: want 1 and 0", b.refusedBusy.Load(), waiters(b))
	}
	wantUsed(t, b, 80)
	a.release()
	mustAcquire(t, b, bob, 50).release()
	wantUsed(t, b, 0)
}

// One caller holds at most its share: past it, it is refused at once
// (429), while others still get bytes.
func TestAnswerBudgetShare(t *testing.T) {
	// Waiting would take an hour: the refusal must come without it.
	b := testBudget(1000, 100, time.Hour)
	a := mustAcquire(t, b, alice, 60)
	_, err := b.acquire(context.Background(), alice, 50)
	var be *budgetError
	if !errors.As(err, &be) || !be.share || be.held != 60 || be.max != 100 {
		t.Fatalf("alice's second answer: got %v, want the share's refusal (60 of 100 held)", err)
	}
	mustAcquire(t, b, bob, 100)
	a.release()
	// Holding nothing, a caller may take more than its share: one answer
	// is never refused for its size alone.
	mustAcquire(t, b, alice, 300)
	wantUsed(t, b, 400)
	if b.refusedShare.Load() != 1 {
		t.Errorf("share refusals: got %d, want 1", b.refusedShare.Load())
	}
}

// A request for more than the whole budget takes the whole budget.
func TestAnswerBudgetLargerThanBudget(t *testing.T) {
	b := testBudget(100, 100, time.Second)
	a := mustAcquire(t, b, alice, 1000)
	wantUsed(t, b, 100)
	a.release()
	wantUsed(t, b, 0)
}

// A client that goes away while waiting stops waiting; the bytes it
// waited for stay free for others.
func TestAnswerBudgetContext(t *testing.T) {
	b := testBudget(100, 100, 10*time.Second)
	a := mustAcquire(t, b, alice, 100)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := b.acquire(ctx, bob, 10)
		got <- err
	}()
	waitFor(t, "bob waiting", func() bool { return waiters(b) == 1 })
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("bob's wait after cancel: got %v, want context.Canceled", err)
	}
	a.release()
	wantUsed(t, b, 0)
	if waiters(b) != 0 {
		t.Errorf("a canceled waiter is still queued")
	}
}

// Waiters are served oldest first, each as soon as it fits: a large answer
// is not overtaken for ever by small ones.
func TestAnswerBudgetOrder(t *testing.T) {
	b := testBudget(100, 100, 10*time.Second)
	a := mustAcquire(t, b, alice, 100)
	granted := make(chan string, 2)
	go func() {
		if held, err := b.acquire(context.Background(), bob, 80); err == nil {
			granted <- "bob"
			time.Sleep(50 * time.Millisecond)
			held.release()
		}
	}()
	waitFor(t, "bob waiting", func() bool { return waiters(b) == 1 })
	go func() {
		if _, err := b.acquire(context.Background(), carol, 30); err == nil {
			granted <- "carol"
		}
	}()
	waitFor(t, "carol waiting", func() bool { return waiters(b) == 2 })
	a.release()
	first, second := <-granted, <-granted
	if first != "bob" || second != "carol" {
		t.Errorf("granted %s then %s, want bob (asked first) then carol", first, second)
	}
}

func TestAnswerBytesResize(t *testing.T) {
	b := testBudget(100, 100, 20*time.Millisecond)
	a := mustAcquire(t, b, alice, 60)
	if err := a.resize(context.Background(), 20); err != nil {
		t.Fatal(err)
	}
	wantUsed(t, b, 20)
	if err := a.resize(context.Background(), 50); err != nil {
		t.Fatal(err)
	}
	wantUsed(t, b, 50)
	other := mustAcquire(t, b, bob, 50)
	if err := a.resize(context.Background(), 70); err == nil {
		t.Fatal("grew past a full budget")
	}
	wantUsed(t, b, 100) // unchanged by the failed resize
	a.release()
	other.release()
	wantUsed(t, b, 0)
}

func waiters(b *AnswerBudget) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting.Len()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
