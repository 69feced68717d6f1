package introspection_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// With a tracer, each verification is a "token.verify" span under the
// caller's, and a call to the endpoint a client span under it whose W3C
// traceparent the endpoint receives; a cached answer makes no call. No
// span holds the token.
func TestTracing(t *testing.T) {
	s := newServer(t, false)
	var mu sync.Mutex
	var sent []string
	s.misbehave(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get("traceparent"))
		mu.Unlock()
		s.answer(w, r)
	})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	cfg := config(s)
	cfg.Tracer = tp.Tracer("github.com/example/spaapi/adapters/introspection")
	v := start(t, cfg)
	tok := opaque()
	s.set(tok, active("user-1", []string{"read:messages"}, time.Hour))

	ctx, req := tp.Tracer("test").Start(context.Background(), "request")
	for round := range 2 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	req.End()

	var verifies []sdktrace.ReadOnlySpan
	var post sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		switch sp.Name() {
		case "token.verify":
			verifies = append(verifies, sp)
		case "POST":
			post = sp
		}
		text := fmt.Sprint(sp.Name(), sp.Attributes(), sp.Status(), sp.Events())
		if strings.Contains(text, tok) {
			t.Errorf("span %q holds the token: %s", sp.Name(), text)
		}
	}
	if len(verifies) != 2 || post == nil {
		t.Fatalf("got %d token.verify spans and POST %v, want 2 and one", len(verifies), post)
	}
	for i, want := range []struct {
		cache  string
		called bool
	}{{"miss", true}, {"hit", false}} {
		sp := verifies[i]
		if sp.Parent().SpanID() != req.SpanContext().SpanID() {
			t.Errorf("token.verify %d: parent %s, want the request's %s", i, sp.Parent().SpanID(), req.SpanContext().SpanID())
		}
		attrs := map[string]string{}
		for _, a := range sp.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if attrs["spaapi.token.cache"] != want.cache || attrs["spaapi.introspection.called"] != fmt.Sprint(want.called) ||
			attrs["spaapi.auth_provider"] != "introspection" || attrs["spaapi.token.issuer"] != issuer {
			t.Errorf("token.verify %d: got %v, want cache %s, called %v", i, attrs, want.cache, want.called)
		}
	}
	if post.Parent().SpanID() != verifies[0].SpanContext().SpanID() {
		t.Errorf("POST: parent %s, want the first token.verify", post.Parent().SpanID())
	}
	wantHeader := fmt.Sprintf("00-%s-%s-01", post.SpanContext().TraceID(), post.SpanContext().SpanID())
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 1 || sent[0] != wantHeader {
		t.Errorf("traceparent sent: got %q, want [%s]", sent, wantHeader)
	}
}
