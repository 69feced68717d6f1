package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/httpapi"
)

// stalledWriter is a client that does not read its answer: Write waits
// until unblock is closed.
type stalledWriter struct {
	*httptest.ResponseRecorder
	once    sync.Once
	writing chan struct{} // closed at the first Write
	unblock chan struct{}
}

func newStalledWriter() *stalledWriter {
	return &stalledWriter{ResponseRecorder: httptest.NewRecorder(), writing: make(chan struct{}), unblock: make(chan struct{})}
}

func (w *stalledWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.writing) })
	<-w.unblock
	return w.ResponseRecorder.Write(p)
}

func listRequest(token string) *http.Request {
	req := httptest.NewRequest("GET", "/api/messages?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// While an answer nobody reads holds the budget, other lists are refused
// with 503 (the server's budget) or 429 (the same caller's share), and
// /api/public is not in the way; once the answer is written its bytes
// serve the next list.
func TestAnswerBudgetThroughRouter(t *testing.T) {
	budget := httpapi.NewAnswerBudget(httpapi.MaxListAnswer)
	f := routerWith(t, httpapi.Config{Answers: budget}, fakeStores())
	for i := range 3 {
		f.post(t, "alice", fmt.Sprintf("message %d", i))
	}

	stalled := newStalledWriter()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.handler.ServeHTTP(stalled, listRequest("reader"))
	}()
	select {
	case <-stalled.writing:
	case <-time.After(10 * time.Second):
		t.Fatal("the first list was never written")
	}
	if budget.Used() == 0 {
		t.Fatal("an answer being written holds none of the budget")
	}

	// Another caller: the page it asks for would not fit beside it.
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, listRequest("alice"))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("alice's list with the budget held: got %d (Retry-After %q), want 503 with Retry-After: 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec.Header().Get("Connection") != "close" {
		t.Errorf("503 for want of answer bytes: Connection %q, want close", rec.Header().Get("Connection"))
	}
	if got, want := decodeError(t, rec), (errorBody{"temporarily_unavailable", "the server is busy sending other answers; retry in a moment"}); got != want {
		t.Errorf("503 body: got %+v, want %+v", got, want)
	}
	// The same caller again: its own unread answer holds its share.
	rec = httptest.NewRecorder()
	f.handler.ServeHTTP(rec, listRequest("reader"))
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" || decodeError(t, rec).Error != "too_many_requests" {
		t.Fatalf("reader's second list: got %d (Retry-After %q) %s, want 429 too_many_requests with Retry-After: 1",
			rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	// A client that leaves while it waits is not a server error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.handler.ServeHTTP(httptest.NewRecorder(), listRequest("alice").WithContext(ctx))
	if rec := f.do("GET", "/api/public", nil); rec.Code != 200 {
		t.Errorf("/api/public with the budget held: got %d, want 200", rec.Code)
	}

	close(stalled.unblock)
	<-done
	if stalled.Code != 200 || budget.Used() != 0 {
		t.Fatalf("the stalled list, once read: got %d and %d bytes still held, want 200 and 0", stalled.Code, budget.Used())
	}
	if got := f.list(t, "alice", "/api/messages?limit=100"); len(got.Messages) != 3 {
		t.Errorf("alice's list once the budget is free: got %d messages, want 3", len(got.Messages))
	}

	logs := f.logs.String()
	for _, want := range []string{
		`"level":"WARN","msg":"request","method":"GET","route":"/api/messages","status":503`,
		`"reason":"answer_budget_full"`,
		`"status":429`, `"reason":"answer_share_full"`,
		`"level":"INFO","msg":"request","method":"GET","route":"/api/messages","status":499`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("a refusal for want of answer bytes was logged as an error:\n%s", logs)
	}
}

type failingWriter struct {
	*httptest.ResponseRecorder
	panics bool
	once   sync.Once
}

func (w *failingWriter) Write(p []byte) (n int, err error) {
	w.once.Do(func() {
		if w.panics {
			panic("write exploded")
		}
		err = errors.New("write tcp: broken pipe")
	})
	if err != nil {
		return 0, err
	}
	return w.ResponseRecorder.Write(p)
}

// A write that fails or panics gives the answer's bytes back all the same.
func TestAnswerBudgetReleasedOnFailedWrite(t *testing.T) {
	budget := httpapi.NewAnswerBudget(httpapi.MaxListAnswer)
	f := routerWith(t, httpapi.Config{Answers: budget}, fakeStores())
	f.post(t, "alice", "hello")
	for _, panics := range []bool{false, true} {
		w := &failingWriter{ResponseRecorder: httptest.NewRecorder(), panics: panics}
		f.handler.ServeHTTP(w, listRequest("reader"))
		if budget.Used() != 0 {
			t.Errorf("panic %v: %d bytes still held after the request", panics, budget.Used())
		}
	}
	if !strings.Contains(f.logs.String(), "write exploded") {
		t.Errorf("the panic was not recovered and logged:\n%s", f.logs)
	}
	// Every byte came back: a page that needs the whole budget still fits.
	f.list(t, "alice", "/api/messages?limit=100")
}
