package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/spaapi/adapters/otlp"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Traces and log levels.
//
// Tracing is on only when the standard OTEL_* variables ask for it
// (otlp.FromEnv). Off, nothing of OpenTelemetry is built: the adapters
// are given no tracer (each tests one nil field), and the stores and the
// replay cache are not wrapped. On, each adapter gets a tracer of its own
// (its package's path names it in the spans), and the stores and replay
// cache, whose spans are the same whatever the engine, are wrapped here.

// tracesConfig is OTEL_*, read and checked: on says whether to trace.
type tracesConfig struct {
	on  bool
	cfg otlp.Config
}

// loadTraces reads the OTEL_* variables.
func loadTraces(getenv func(string) string) (tracesConfig, error) {
	cfg, on, err := otlp.FromEnv(getenv)
	if err != nil {
		return tracesConfig{}, err
	}
	return tracesConfig{on: on, cfg: cfg}, nil
}

// logLevel reads LOG_LEVEL: debug, info (the default), warn or error.
func logLevel(get getter) (slog.Level, error) {
	v, name, err := get("log-level")
	if err != nil || v == "" {
		return slog.LevelInfo, err
	}
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%s: %q is not one of debug, info, warn, error", name, v)
}

// tracing is the running tracer provider; a nil *tracing is tracing off,
// and its methods then change nothing.
type tracing struct {
	provider *sdktrace.TracerProvider
	log      *slog.Logger
}

// tracesShutdownTimeout bounds how long the last spans may take to leave.
const tracesShutdownTimeout = 5 * time.Second

// startTracing starts the exporter when cfg.traces asks for it (else it
// returns nil) and hands the adapters cfg configures their tracers: the
// HTTP layer, the identity provider's verifier and the DPoP proof
// verifier. Call it before the identity provider is started.
func startTracing(ctx context.Context, cfg *config, log *slog.Logger) (*tracing, error) {
	if !cfg.traces.on {
		return nil, nil
	}
	tc := cfg.traces.cfg
	if b := readBuildInfo(); b.version != "" && b.version != "(devel)" {
		tc.ServiceVersion = b.version
	}
	tp, err := otlp.Start(ctx, tc, log)
	if err != nil {
		return nil, err
	}
	t := &tracing{provider: tp, log: log}
	cfg.web.Tracer = t.tracer("adapters/httpapi")
	cfg.dpop.proofs.Tracer = t.tracer("adapters/dpop")
	cfg.identity.opts.Tracer = t.tracer("adapters/" + cfg.identity.name)
	cfg.identity.opts.Provider = cfg.identity.name
	// The provider's settings were loaded with the options they had then;
	// with -dev they are loaded again once the development issuer runs.
	if cfg.dev == nil {
		if err := cfg.identity.load(); err != nil {
			t.shutdown()
			return nil, err
		}
	}
	sampler := tc.Sampler.Description()
	log.Info("traces on", "endpoint", otlp.Redacted(tc.Endpoint), "sampler", sampler, "service_name", tc.ServiceName)
	return t, nil
}

// tracer returns the tracer of one package of this module, by its path
// under the module.
func (t *tracing) tracer(pkg string) trace.Tracer {
	return t.provider.Tracer("github.com/example/spaapi/" + pkg)
}

// shutdown sends the spans still queued, waiting at most
// tracesShutdownTimeout.
func (t *tracing) shutdown() {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tracesShutdownTimeout)
	defer cancel()
	if err := t.provider.Shutdown(ctx); err != nil {
		t.log.Warn("traces: the last spans were not all sent", "error", err.Error())
	}
}

// stores returns s with its message store traced, when its engine is a
// database (SQLite or PostgreSQL): one span per call, named by the
// statement it runs ("INSERT messages"), never with its arguments.
func (t *tracing) stores(s ports.Stores, engine string) ports.Stores {
	system, ok := dbSystems[engine]
	if t == nil || !ok {
		return s
	}
	s.Messages = &tracedMessages{next: s.Messages, tracer: t.tracer("adapters/" + engine), system: system}
	return s
}

// dbSystems are OpenTelemetry's db.system.name of the engines traced.
var dbSystems = map[string]string{"sqlite": "sqlite", "postgres": "postgresql"}

// replay returns r traced, as "dpop.replay" spans: whether the proof was
// new, and the store (memory or redis).
func (t *tracing) replay(r ports.ReplayCache, store string) ports.ReplayCache {
	if t == nil {
		return r
	}
	return &tracedReplay{next: r, tracer: t.tracer("adapters/" + store), store: store}
}

// Span attributes of the stores and the replay cache: OpenTelemetry's
// database conventions, and the API's own under "spaapi.".
const (
	attrDBSystem     = attribute.Key("db.system.name")
	attrDBOperation  = attribute.Key("db.operation.name")
	attrDBCollection = attribute.Key("db.collection.name")
	attrDBSummary    = attribute.Key("db.query.summary")
	attrStoreCall    = attribute.Key("spaapi.store.call")
	attrOutcome      = attribute.Key("spaapi.outcome")
	attrReplayStore  = attribute.Key("spaapi.replay.store")
	attrReplayFirst  = attribute.Key("spaapi.replay.first_seen")
	attrRefusal      = attribute.Key("spaapi.refusal_reason")
)

// tracedMessages is a ports.MessageStore whose calls are spans.
type tracedMessages struct {
	next   ports.MessageStore
	tracer trace.Tracer
	system string
}

var _ ports.MessageStore = (*tracedMessages)(nil)

// start starts the span of one call running the statement op on the
// messages table.
func (s *tracedMessages) start(ctx context.Context, op, call string) (context.Context, trace.Span) {
	summary := op + " messages"
	return s.tracer.Start(ctx, summary, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attrDBSystem.String(s.system), attrDBOperation.String(op), attrDBCollection.String("messages"),
		attrDBSummary.String(summary), attrStoreCall.String(call)))
}

// endStoreSpan ends a call's span: an error status only when the database failed,
// not for the answers the port defines (not found, over quota).
func endStoreSpan(span trace.Span, err error) {
	switch {
	case err == nil:
	case errors.Is(err, domain.ErrNotFound):
		span.SetAttributes(attrOutcome.String("not_found"))
	case errors.As(err, new(*domain.QuotaError)):
		span.SetAttributes(attrOutcome.String("over_quota"))
	case errors.Is(err, domain.ErrUnavailable):
		span.SetAttributes(attribute.String("error.type", "unavailable"))
		span.SetStatus(codes.Error, "unavailable")
	default:
		span.SetAttributes(attribute.String("error.type", "other"))
		span.SetStatus(codes.Error, "failed")
	}
	span.End()
}

func (s *tracedMessages) Ready(ctx context.Context) error { return s.next.Ready(ctx) }

func (s *tracedMessages) Add(ctx context.Context, m domain.Message, perAuthor int) error {
	ctx, span := s.start(ctx, "INSERT", "Messages.Add")
	err := s.next.Add(ctx, m, perAuthor)
	endStoreSpan(span, err)
	return err
}

func (s *tracedMessages) List(ctx context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error) {
	ctx, span := s.start(ctx, "SELECT", "Messages.List")
	out, err := s.next.List(ctx, after, limit)
	if err == nil {
		span.SetAttributes(attribute.Int("db.response.returned_rows", len(out)))
	}
	endStoreSpan(span, err)
	return out, err
}

func (s *tracedMessages) Get(ctx context.Context, id string) (domain.Message, error) {
	ctx, span := s.start(ctx, "SELECT", "Messages.Get")
	m, err := s.next.Get(ctx, id)
	endStoreSpan(span, err)
	return m, err
}

func (s *tracedMessages) Delete(ctx context.Context, id string) error {
	ctx, span := s.start(ctx, "DELETE", "Messages.Delete")
	err := s.next.Delete(ctx, id)
	endStoreSpan(span, err)
	return err
}

// tracedReplay is a ports.ReplayCache whose FirstSeen calls are spans.
type tracedReplay struct {
	next   ports.ReplayCache
	tracer trace.Tracer
	store  string
}

var _ ports.ReplayCache = (*tracedReplay)(nil)

func (r *tracedReplay) Ready(ctx context.Context) error { return r.next.Ready(ctx) }

func (r *tracedReplay) FirstSeen(ctx context.Context, key ports.ReplayKey, ttl time.Duration) (bool, error) {
	kind := trace.SpanKindInternal
	if r.store == "redis" {
		kind = trace.SpanKindClient
	}
	ctx, span := r.tracer.Start(ctx, "dpop.replay", trace.WithSpanKind(kind), trace.WithAttributes(attrReplayStore.String(r.store)))
	first, err := r.next.FirstSeen(ctx, key, ttl)
	var pe *domain.ProofError
	switch {
	case errors.As(err, &pe):
		span.SetAttributes(attrRefusal.String(string(pe.Reason)))
		span.SetStatus(codes.Error, string(pe.Reason))
	case err != nil:
		span.SetAttributes(attribute.String("error.type", "unavailable"))
		span.SetStatus(codes.Error, "unavailable")
	default:
		span.SetAttributes(attrReplayFirst.Bool(first))
	}
	span.End()
	return first, err
}
