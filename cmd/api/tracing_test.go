package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/postgres/postgrestest"
	"github.com/example/spaapi/adapters/redis/redistest"
)

// collector runs the OpenTelemetry Collector's own OTLP receiver (its
// OTLP/HTTP server only) on a loopback port, delivering to a sink, and
// returns the base URL to give OTEL_EXPORTER_OTLP_ENDPOINT.
func collector(t *testing.T) (string, *consumertest.TracesSink) {
	t.Helper()
	factory := otlpreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC = configoptional.None[configgrpc.ServerConfig]()
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	set := receivertest.NewNopSettings(factory.Type())
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	sink := new(consumertest.TracesSink)
	rcv, err := factory.CreateTraces(context.Background(), set, cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rcv.Shutdown(context.Background()) })
	started := logs.FilterMessage("Starting HTTP server").All()
	if len(started) != 1 {
		t.Fatalf("the receiver logged no HTTP address: %v", logs.All())
	}
	return "http://" + started[0].ContextMap()["endpoint"].(string), sink
}

// span is one span as the collector received it.
type span struct {
	name, traceID, spanID, parentID string
	kind                            ptrace.SpanKind
	attrs                           map[string]any
	status                          ptrace.StatusCode
	links                           int
	text                            string // everything it carries, to look for secrets in
}

// received flattens what sink holds, and the resource's service.name.
func received(sink *consumertest.TracesSink) (spans []span, services map[string]bool) {
	services = map[string]bool{}
	for _, td := range sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
				services[v.Str()] = true
			}
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					var text strings.Builder
					fmt.Fprintf(&text, "%s %s %v", s.Name(), s.Status().Message(), s.Attributes().AsRaw())
					for _, e := range s.Events().All() {
						fmt.Fprintf(&text, " %s %v", e.Name(), e.Attributes().AsRaw())
					}
					parent := ""
					if !s.ParentSpanID().IsEmpty() {
						parent = s.ParentSpanID().String()
					}
					spans = append(spans, span{
						name: s.Name(), traceID: s.TraceID().String(), spanID: s.SpanID().String(), parentID: parent,
						kind: s.Kind(), attrs: s.Attributes().AsRaw(), status: s.Status().Code(), links: s.Links().Len(),
						text: text.String(),
					})
				}
			}
		}
	}
	return spans, services
}

// one returns the only span named name whose parent is parent ("" for
// any), failing otherwise.
func one(t *testing.T, spans []span, name, parent string) span {
	t.Helper()
	var found []span
	for _, s := range spans {
		if s.name == name && (parent == "" || s.parentID == parent) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d spans %q with parent %q, want 1; all: %+v", len(found), name, parent, spans)
	}
	return found[0]
}

// wantAttrs checks attributes of s, by value; a nil want only asks that
// the attribute is there and not empty.
func wantAttrs(t *testing.T, s span, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := s.attrs[k]
		switch {
		case !ok:
			t.Errorf("span %q: no attribute %s (has %v)", s.name, k, s.attrs)
		case v == nil && (got == nil || got == ""):
			t.Errorf("span %q: %s is empty", s.name, k)
		case v != nil && got != v:
			t.Errorf("span %q: %s got %v (%T), want %v (%T)", s.name, k, got, got, v, v)
		}
	}
}

// One DPoP request that writes a message, followed in a real OTLP
// receiver: the request's span continues the caller's traceparent, the
// token check, the DPoP check, its replay cache and the database call are
// its descendants, the log line names the trace, the key fetch is a trace
// of its own; a refused request says why; no token, proof or message
// text is in any span. With SQLite and the in-memory replay cache, and
// with PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL).
func TestTracesReachACollector(t *testing.T) {
	t.Run("sqlite, memory", func(t *testing.T) {
		followOneRequest(t, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "messages.db")}, "sqlite", "memory")
	})
	t.Run("postgresql, redis", func(t *testing.T) {
		followOneRequest(t, map[string]string{"DATABASE_URL": postgrestest.URL(t), "REDIS_URL": redistest.URL(t)}, "postgresql", "redis")
	})
}

// followOneRequest runs the API with settings and checks its spans; system
// and store name the database and the replay cache the spans must name.
func followOneRequest(t *testing.T, settings map[string]string, system, store string) {
	endpoint, sink := collector(t)
	dir := t.TempDir()
	vars := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "spaapi-test",
		"OTEL_TRACES_SAMPLER": "parentbased_always_on"}
	for k, v := range settings {
		vars[k] = v
	}
	base, logs, stop := runDev(t, env(vars), "-dev-dir", dir, "-addr", "127.0.0.1:0", "-dev-issuer-addr", "127.0.0.1:0", "-metrics-addr", "off")
	issuerAddr := devIssuerAddr(t, logs)
	waitStatus(t, base+"/readyz", 200)
	dev := []string{"-dev-dir", dir, "-dev-issuer-addr", issuerAddr}
	messages := strings.Replace(base, "127.0.0.1", "localhost", 1) + "/api/messages"

	tok := command(t, append([]string{"token", "-dpop", "-scope", "read:messages write:messages"}, dev...)...)
	proof := command(t, append([]string{"proof", "-method", "POST", "-url", messages, "-token", tok}, dev...)...)
	const (
		text       = "the text of a message no span may carry"
		callerTID  = "4bf92f3577b34da6a3ce929d0e0e4736"
		callerSpan = "00f067aa0ba902b7"
	)
	req, err := http.NewRequest("POST", messages, strings.NewReader(`{"text":"`+text+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+callerTID+"-"+callerSpan+"-01")
	req.Header.Set("tracestate", "spa=1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("POST with DPoP: got %d, want 201", resp.StatusCode)
	}
	postID := resp.Header.Get("X-Request-ID")

	// A forged token: its signature changed.
	forged := tok[:strings.LastIndexByte(tok, '.')+1] + strings.Repeat("A", 86)
	if resp, _ := send(t, "GET", base+"/api/private", "Bearer "+forged); resp.StatusCode != 401 {
		t.Fatalf("forged token: got %d, want 401", resp.StatusCode)
	}
	line := logs.waitFor(t, `"request_id":"`+postID+`"`)
	stop() // sends the last spans

	spans, services := received(sink)
	if !services["spaapi-test"] {
		t.Errorf("service.name: got %v, want spaapi-test", services)
	}

	// The request, under the caller's span.
	server := one(t, spans, "POST /api/messages", callerSpan)
	if server.traceID != callerTID || server.kind != ptrace.SpanKindServer {
		t.Errorf("request span: trace %s kind %v, want %s server", server.traceID, server.kind, callerTID)
	}
	wantAttrs(t, server, map[string]any{"http.route": "/api/messages", "http.request.method": "POST",
		"http.response.status_code": int64(201), "spaapi.auth_scheme": "DPoP", "spaapi.request_id": postID})
	if line["trace_id"] != callerTID || line["span_id"] != server.spanID {
		t.Errorf("log line: trace_id %v span_id %v, want %s %s", line["trace_id"], line["span_id"], callerTID, server.spanID)
	}

	// Its token check, DPoP check, replay cache and database call.
	verify := one(t, spans, "token.verify", server.spanID)
	wantAttrs(t, verify, map[string]any{"spaapi.auth_provider": "auth0", "spaapi.token.cache": "miss",
		"spaapi.token.issuer": nil, "spaapi.token.kid": nil})
	proofSpan := one(t, spans, "dpop.verify", server.spanID)
	wantAttrs(t, proofSpan, map[string]any{"spaapi.dpop.alg": nil})
	replay := one(t, spans, "dpop.replay", proofSpan.spanID)
	wantAttrs(t, replay, map[string]any{"spaapi.replay.store": store, "spaapi.replay.first_seen": true})
	insert := one(t, spans, "INSERT messages", server.spanID)
	wantAttrs(t, insert, map[string]any{"db.system.name": system, "db.operation.name": "INSERT",
		"db.collection.name": "messages", "spaapi.store.call": "Messages.Add"})
	for _, s := range []span{verify, proofSpan, replay, insert} {
		if s.traceID != callerTID {
			t.Errorf("%s: trace %s, want the caller's %s", s.name, s.traceID, callerTID)
		}
	}

	// The refusal: a trace of its own (no traceparent), with its reason.
	refused := one(t, spans, "GET /api/private", "")
	wantAttrs(t, refused, map[string]any{"http.response.status_code": int64(401), "spaapi.refusal_reason": nil,
		"spaapi.auth_scheme": "Bearer"})
	if refused.parentID != "" || refused.traceID == callerTID {
		t.Errorf("refused request: parent %q trace %s, want a new trace", refused.parentID, refused.traceID)
	}
	refusedVerify := one(t, spans, "token.verify", refused.spanID)
	if refusedVerify.status != ptrace.StatusCodeError {
		t.Errorf("refused token.verify: status %v, want Error", refusedVerify.status)
	}

	// The signing keys: fetched in a trace of their own, over HTTP.
	var fetches []span
	for _, s := range spans {
		if s.name == "jwks.fetch" {
			fetches = append(fetches, s)
			if s.parentID != "" {
				t.Errorf("jwks.fetch has a parent %s, want a root", s.parentID)
			}
		}
	}
	if len(fetches) == 0 {
		t.Fatalf("no jwks.fetch span; all: %+v", spans)
	}
	// Its GETs (discovery, then the key set) are client spans under it.
	urls := map[string]bool{}
	for _, s := range spans {
		if s.parentID != fetches[0].spanID {
			continue
		}
		if s.name != "GET" || s.kind != ptrace.SpanKindClient {
			t.Errorf("under jwks.fetch: %q kind %v, want client GETs", s.name, s.kind)
		}
		wantAttrs(t, s, map[string]any{"http.response.status_code": int64(200)})
		u, _ := s.attrs["url.full"].(string)
		urls[u[strings.LastIndexByte(u, '/')+1:]] = true
	}
	if !urls["openid-configuration"] || !urls["jwks.json"] {
		t.Errorf("key fetch's GETs: %v, want the discovery document and the key set", urls)
	}

	// Nothing secret, anywhere.
	secrets := map[string]string{"token": tok, "proof": proof, "forged token": forged, "text": text,
		"token signature": tok[strings.LastIndexByte(tok, '.')+1:], "proof signature": proof[strings.LastIndexByte(proof, '.')+1:]}
	for _, s := range spans {
		for what, secret := range secrets {
			if strings.Contains(s.text, secret) {
				t.Errorf("span %q carries the %s: %s", s.name, what, s.text)
			}
		}
	}
}

// Without OTEL_* the API makes no tracer: no exporter, no goroutine, and
// the adapters are given nil.
func TestTracesOffByDefault(t *testing.T) {
	cfg, err := loadConfig(nil, env(map[string]string{"ISSUER_BASE_URL": "https://tenant.auth0.com/", "AUDIENCE": "a"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := startTracing(context.Background(), &cfg, nil)
	if err != nil || tr != nil {
		t.Fatalf("startTracing: got %v, %v; want nil, nil", tr, err)
	}
	if cfg.web.Tracer != nil || cfg.dpop.proofs.Tracer != nil || cfg.identity.opts.Tracer != nil {
		t.Errorf("tracers given out with tracing off: %v %v %v", cfg.web.Tracer, cfg.dpop.proofs.Tracer, cfg.identity.opts.Tracer)
	}
	tr.shutdown() // a nil *tracing does nothing
}

// LOG_LEVEL sets the least level the JSON log writes.
func TestLogLevel(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  slog.Level
	}{{"", slog.LevelInfo}, {"debug", slog.LevelDebug}, {"INFO", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError}} {
		cfg, err := loadConfig(nil, env(map[string]string{"ISSUER_BASE_URL": "https://tenant.auth0.com/", "AUDIENCE": "a", "LOG_LEVEL": tc.value}), nil)
		if err != nil {
			t.Fatalf("LOG_LEVEL=%q: %v", tc.value, err)
		}
		if cfg.logLevel != tc.want {
			t.Errorf("LOG_LEVEL=%q: got %v, want %v", tc.value, cfg.logLevel, tc.want)
		}
	}
}

// Outside -dev the identity provider is loaded again with its tracer: a
// request's token check is under the request, named by the provider, and
// the first one is a cache miss, the next a hit.
func TestTracesWithAnIssuer(t *testing.T) {
	endpoint, sink := collector(t)
	iss := jwtverifytest.NewIssuer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{
			"ISSUER_BASE_URL": iss.URL, "AUDIENCE": jwtverifytest.Audience, "ADDR": "127.0.0.1:0", "METRICS_ADDR": "off",
			"DATABASE_URL": "memory:", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint + "/v1/traces",
		}), io.Discard, logs)
	}()
	base := logs.baseURL(t)
	waitStatus(t, base+"/readyz", 200)
	tok := iss.Token(iss.Claims("auth0|alice"))
	for range 2 {
		if resp, body := call(t, base+"/api/private", tok); resp.StatusCode != 200 {
			t.Fatalf("valid token: got %d %s", resp.StatusCode, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	spans, _ := received(sink)
	var caches []any
	for _, s := range spans {
		if s.name != "GET /api/private" {
			continue
		}
		v := one(t, spans, "token.verify", s.spanID)
		wantAttrs(t, v, map[string]any{"spaapi.auth_provider": "auth0", "spaapi.token.issuer": iss.URL})
		caches = append(caches, v.attrs["spaapi.token.cache"])
	}
	if len(caches) != 2 || !slices.Contains(caches, any("miss")) || !slices.Contains(caches, any("hit")) {
		t.Errorf("token.verify cache: got %v, want a miss and a hit", caches)
	}
	one(t, spans, "jwks.fetch", "")
}
