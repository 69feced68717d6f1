package httpapi_test

import (
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/app"
)

// A request's span is named by its method and route template, never by
// what the client wrote: a method outside the known ones is "HTTP" in the
// name and _OTHER in http.request.method (OpenTelemetry's HTTP
// conventions), with what was sent, as logged, in
// http.request.method_original; a path no route matches adds no name.
func TestSpanNamesAreBounded(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := metadataRouter(t, httpapi.Config{Tracer: tp.Tracer("test")}, app.DPoPAllowed)

	for _, tc := range []struct {
		method, path     string
		name, attrMethod string
		original         string // "" for none
	}{
		{"GET", "/api/public", "GET /api/public", "GET", ""},
		{"QWE1", "/api/public", "HTTP", "_OTHER", "QWE1"}, // 405: no route matched
		{"QWE2", "/api/public", "HTTP", "_OTHER", "QWE2"},
		{"GET", "/no/such/path/12345", "GET", "GET", ""},
		{"AVERYLONGMADEUPMETHODNAME", "/x", "HTTP", "_OTHER", "AVERYLONGMADEUPMETHO..."},
	} {
		rec.Reset()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
		spans := rec.Ended()
		if len(spans) != 1 {
			t.Errorf("%s %s: %d spans, want 1", tc.method, tc.path, len(spans))
			continue
		}
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range spans[0].Attributes() {
			attrs[kv.Key] = kv.Value
		}
		original, hasOriginal := attrs["http.request.method_original"]
		if spans[0].Name() != tc.name || attrs["http.request.method"].AsString() != tc.attrMethod ||
			hasOriginal != (tc.original != "") || original.AsString() != tc.original {
			t.Errorf("%s %s: span %q, http.request.method %q, method_original %q (%v); want %q, %q, %q",
				tc.method, tc.path, spans[0].Name(), attrs["http.request.method"].AsString(), original.AsString(), hasOriginal,
				tc.name, tc.attrMethod, tc.original)
		}
	}
}
