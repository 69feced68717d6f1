package otlp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/example/spaapi/adapters/otlp"
)

// A span whose attribute is not UTF-8 (a client's bytes cut in the middle
// of a character, say) does not cost its batch: every span of it is
// posted, that value mended with U+FFFD.
func TestExportMendsStringsThatAreNotUTF8(t *testing.T) {
	var (
		mu    sync.Mutex
		names = map[string]string{} // span name → its "value" attribute
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var data tracepb.TracesData
		if err == nil {
			err = proto.Unmarshal(body, &data)
		}
		if err != nil {
			t.Errorf("the collector got a body it cannot read: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range data.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					for _, kv := range s.Attributes {
						if kv.Key == "value" {
							names[s.Name] = kv.Value.GetStringValue()
						}
					}
				}
			}
		}
	}))
	defer collector.Close()

	tp, err := otlp.Start(context.Background(), otlp.Config{Endpoint: collector.URL + "/v1/traces"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tracer := tp.Tracer("test")
	for name, v := range map[string]string{"before": "fine", "broken": "kid-\xc3", "after": "fine too"} {
		_, span := tracer.Start(context.Background(), name)
		span.SetAttributes(attribute.String("value", v))
		span.End()
	}
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{"before": "fine", "broken": "kid-\uFFFD", "after": "fine too"}
	for name, v := range want {
		if names[name] != v {
			t.Errorf("span %q: got value %q, want %q (all received: %q)", name, names[name], v, names)
		}
	}
}
