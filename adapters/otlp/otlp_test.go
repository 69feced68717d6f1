package otlp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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

// An endpoint's query may hold a back end's key: logs and errors show
// each query value as xxxxx (and a password in user info as xxxxx too).
func TestEndpointIsRedactedInLogs(t *testing.T) {
	for in, want := range map[string]string{
		"http://collector:4318/v1/traces":                     "http://collector:4318/v1/traces",
		"https://otlp.example.com/v1/traces?api_key=s3cret":   "https://otlp.example.com/v1/traces?api_key=xxxxx",
		"https://otlp.example.com/v1/traces?a=1&b=s3cret&b=2": "https://otlp.example.com/v1/traces?a=xxxxx&b=xxxxx",
		"https://u:s3cret@otlp.example.com/v1/traces":         "https://u:xxxxx@otlp.example.com/v1/traces",
	} {
		if got := otlp.Redacted(in); got != want {
			t.Errorf("Redacted(%q): got %q, want %q", in, got, want)
		}
	}

	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer refusing.Close()
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	tp, err := otlp.Start(context.Background(), otlp.Config{Endpoint: refusing.URL + "/v1/traces?api_key=s3cret"}, log)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "one")
	span.End()
	_ = tp.Shutdown(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "api_key=xxxxx") || strings.Contains(logs.String(), "s3cret") {
		t.Errorf("the failed export's log line: want the endpoint with api_key=xxxxx and never the key:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
