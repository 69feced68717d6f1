package httpapi

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AnswerBudget bounds the memory that large answers hold, across the whole
// server. An answer is built in memory and stays there until the client
// has taken all of it (or the write times out): a client that asks and
// never reads holds its answer for WriteTimeout, and many such clients
// would hold many answers. So a large answer takes its bytes from the
// budget before it is built and gives them back when its write has
// completed or failed; however many connections ask at once, the answers
// held together never exceed the budget.
//
// A request that cannot have its bytes within Wait gets 503
// temporarily_unavailable with Retry-After: 1: the server as a whole is
// busy, and bytes come back as soon as any answer in flight is written
// (within WriteTimeout at the latest). One caller (a subject of an issuer)
// may hold at most Share of the budget; past it the caller gets 429
// at once: its own unread answers are what it waits for, and the rest of
// the budget stays for everyone else.
//
// Small constant answers (public, private, errors) never use it: they fit
// in the connection's own write buffer.
type AnswerBudget struct {
	max, share int64
	wait       time.Duration

	mu       sync.Mutex
	used     int64
	byCaller map[caller]int64
	waiting  list.List // of *budgetWaiter, oldest first

	refusedBusy, refusedShare atomic.Uint64
}

// budgetWaiter is a request waiting for bytes; ready is closed once they
// are granted.
type budgetWaiter struct {
	caller caller
	n      int64
	ready  chan struct{}
}

// DefaultAnswerBudget is the budget of a router given none (tests, the
// test injector): cmd/api derives its own from MEMORY_LIMIT.
const DefaultAnswerBudget = 32 << 20

// answerWait is how long a request waits for bytes before its 503.
// Answers to clients that read are written in milliseconds, so a short
// wait rides out a burst; under a crowd of slow readers waiting longer
// would only hold more goroutines and connections.
const answerWait = 250 * time.Millisecond

// NewAnswerBudget returns a budget of max bytes, of which one caller may
// hold an eighth (but at least two of the largest list answers, so a
// small budget still serves a client that has a page in flight while it
// asks for the next).
func NewAnswerBudget(size int64) *AnswerBudget {
	size = max(size, 1)
	share := min(max(size/8, 2*MaxListAnswer), size)
	return &AnswerBudget{max: size, share: share, wait: answerWait, byCaller: map[caller]int64{}}
}

// caller is whom answer bytes are held for: a subject of an issuer.
type caller struct{ issuer, subject string }

// Used returns the bytes held now.
func (b *AnswerBudget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// budgetError is a request refused for want of answer bytes: the server's
// (busy) or the caller's share.
type budgetError struct {
	share      bool
	n, held    int64 // asked, and held by the server or the caller
	max        int64 // the budget or the share
	retryAfter string
}

func (e *budgetError) Error() string {
	what := "answer budget"
	if e.share {
		what = "caller's share of the answer budget"
	}
	return fmt.Sprintf("%s full: %d bytes asked, %d of %d held by answers not yet written", what, e.n, e.held, e.max)
}

// answerBytes are bytes held from a budget for one answer. Release gives
// them back; it is safe to call more than once, and on a nil value.
type answerBytes struct {
	b      *AnswerBudget
	caller caller
	n      int64
}

// acquire takes n bytes for caller, waiting at most the budget's wait
// (and no longer than ctx) for them. A request for more than the whole
// budget takes the whole budget; a caller holding nothing may take more
// than its share. Errors: *budgetError, or ctx's error.
func (b *AnswerBudget) acquire(ctx context.Context, caller caller, n int64) (*answerBytes, error) {
	n = min(max(n, 0), b.max)
	b.mu.Lock()
	if held := b.byCaller[caller]; held > 0 && held+n > b.share {
		b.mu.Unlock()
		b.refusedShare.Add(1)
		return nil, &budgetError{share: true, n: n, held: held, max: b.share}
	}
	if b.waiting.Len() == 0 && b.used+n <= b.max {
		b.take(caller, n)
		b.mu.Unlock()
		return &answerBytes{b: b, caller: caller, n: n}, nil
	}
	w := &budgetWaiter{caller: caller, n: n, ready: make(chan struct{})}
	e := b.waiting.PushBack(w)
	b.mu.Unlock()

	timer := time.NewTimer(b.wait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		return &answerBytes{b: b, caller: caller, n: n}, nil
	case <-timer.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted while the timer fired
		return &answerBytes{b: b, caller: caller, n: n}, nil
	default:
	}
	b.waiting.Remove(e)
	b.grant() // the waiter removed may have been blocking smaller ones
	if err != nil {
		return nil, err
	}
	b.refusedBusy.Add(1)
	return nil, &budgetError{n: n, held: b.used, max: b.max}
}

// take counts n bytes as held by caller. b.mu is held.
func (b *AnswerBudget) take(caller caller, n int64) {
	b.used += n
	b.byCaller[caller] += n
}

// giveBack returns n bytes of caller's and grants waiters. b.mu is held.
func (b *AnswerBudget) giveBack(caller caller, n int64) {
	b.used -= n
	if b.byCaller[caller] -= n; b.byCaller[caller] <= 0 {
		delete(b.byCaller, caller)
	}
	b.grant()
}

// grant gives waiters their bytes, oldest first, while they fit: a large
// answer is not overtaken for ever by small ones. b.mu is held.
func (b *AnswerBudget) grant() {
	for e := b.waiting.Front(); e != nil; e = b.waiting.Front() {
		w := e.Value.(*budgetWaiter)
		if b.used+w.n > b.max {
			return
		}
		b.waiting.Remove(e)
		b.take(w.caller, w.n)
		close(w.ready)
	}
}

// resize makes the bytes held n: it gives back what is no longer needed,
// or takes more (waiting as acquire does). On error the bytes held are
// unchanged.
func (a *answerBytes) resize(ctx context.Context, n int64) error {
	switch {
	case n < a.n:
		a.b.mu.Lock()
		a.b.giveBack(a.caller, a.n-n)
		a.b.mu.Unlock()
		a.n = n
	case n > a.n:
		more, err := a.b.acquire(ctx, a.caller, n-a.n)
		if err != nil {
			return err
		}
		a.n += more.n
	}
	return nil
}

// release gives all the bytes back.
func (a *answerBytes) release() {
	if a == nil || a.n == 0 {
		return
	}
	a.b.mu.Lock()
	a.b.giveBack(a.caller, a.n)
	a.b.mu.Unlock()
	a.n = 0
}

// Collectors are the budget's metrics: its size, the bytes held, and the
// requests refused for want of bytes.
func (b *AnswerBudget) Collectors() []prometheus.Collector {
	refused := func(why string, c *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "http_answer_budget_refused_total",
			Help:        `Requests refused because the answer budget was full ("busy": 503) or their caller held its share of it ("share": 429).`,
			ConstLabels: prometheus.Labels{"why": why},
		}, func() float64 { return float64(c.Load()) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "http_answer_budget_bytes", Help: "Bytes that large answers (lists) may hold in memory at once, server-wide.",
		}, func() float64 { return float64(b.max) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "http_answer_budget_used_bytes", Help: "Bytes of the answer budget held now by answers being built or written.",
		}, func() float64 { return float64(b.Used()) }),
		refused("busy", &b.refusedBusy),
		refused("share", &b.refusedShare),
	}
}
