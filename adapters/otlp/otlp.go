// Package otlp sends the API's traces to an OpenTelemetry back end (a
// collector, Jaeger, Tempo, Honeycomb, ...) over OTLP/HTTP with protobuf
// bodies: the OpenTelemetry Go SDK makes the spans and batches them, its
// otlptrace exporter turns them into OTLP's protobuf messages, and this
// package posts them. It is configured by the standard OTEL_* variables
// (FromEnv); without them the API has no tracer at all.
//
// The SDK's own OTLP/HTTP exporter (otlptracehttp) is not used: its
// protobuf types come in a package that also holds the gRPC service, so
// it links gRPC and grpc-gateway into the binary, which does not speak
// gRPC. The body posted here is the same message: OTLP's
// ExportTraceServiceRequest and TracesData are both "repeated
// ResourceSpans resource_spans = 1".
package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Config says where traces go and which are kept.
type Config struct {
	// Endpoint is the URL spans are posted to, e.g.
	// http://collector:4318/v1/traces.
	Endpoint string
	// Headers are sent with every post (an API key, say). Never logged.
	Headers http.Header
	// Timeout bounds one export, its retries included (default 10s).
	Timeout time.Duration
	// Gzip compresses the bodies.
	Gzip bool
	// TLS is for an https endpoint: nil means the system's roots.
	TLS *tls.Config
	// Sampler decides which traces are kept (default: the parent's
	// decision, else all).
	Sampler sdktrace.Sampler
	// ServiceName is the resource's service.name; "" leaves it to
	// OTEL_RESOURCE_ATTRIBUTES (read by the SDK).
	ServiceName string
	// ServiceVersion is the resource's service.version, if known.
	ServiceVersion string
}

// DefaultTimeout bounds one export unless OTEL_EXPORTER_OTLP_TIMEOUT says
// otherwise (the OpenTelemetry default).
const DefaultTimeout = 10 * time.Second

// maxErrorBody is how much of an error answer is read, so that the
// connection can carry the next export.
const maxErrorBody = 4 << 10

// Start returns a tracer provider that batches spans and exports them to
// cfg.Endpoint in the background (the SDK's batch span processor: one
// goroutine, a bounded queue, spans dropped when it is full). Shut it
// down to send the last spans. Export failures are logged to log at WARN.
// The SDK still reads OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_* and the span
// limits (OTEL_SPAN_*_LIMIT, ...) from the process's environment.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Sampler == nil {
		cfg.Sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLS != nil {
		transport.TLSClientConfig = cfg.TLS
	}
	c := &client{cfg: cfg, shown: Redacted(cfg.Endpoint), http: &http.Client{Transport: transport}}
	exp, err := otlptrace.New(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	// The SDK reports what goes wrong in the background (an export that
	// failed, its queue full) to this one handler, process-wide.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("traces: export failed", "error", err.Error())
	}))
	var attrs []attribute.KeyValue
	if cfg.ServiceName != "" {
		attrs = append(attrs, attribute.String("service.name", cfg.ServiceName))
	}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(cfg.Sampler),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	), nil
}

// client is the otlptrace.Client that posts spans over HTTP.
type client struct {
	cfg   Config
	shown string // the endpoint as errors name it: Redacted
	http  *http.Client
}

var _ otlptrace.Client = (*client)(nil)

func (c *client) Start(context.Context) error { return nil }

func (c *client) Stop(context.Context) error {
	c.http.CloseIdleConnections()
	return nil
}

// UploadTraces posts spans, retrying what OTLP says may be retried (429,
// 502, 503, 504, and a connection that failed) with back-off, honouring
// Retry-After, until cfg.Timeout has passed.
func (c *client) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	body, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: spans})
	if err != nil {
		// A string that is not UTF-8 (protobuf refuses them) must not
		// cost the whole batch: attribute values may hold what a client
		// sent. Mend them and try once more.
		mendUTF8(spans)
		if body, err = proto.Marshal(&tracepb.TracesData{ResourceSpans: spans}); err != nil {
			return fmt.Errorf("otlp: encoding spans: %w", err)
		}
	}
	if c.cfg.Gzip {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		if err := zw.Close(); err != nil {
			return fmt.Errorf("otlp: compressing spans: %w", err)
		}
		body = b.Bytes()
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	wait := time.Second
	for {
		retry, after, err := c.post(ctx, body)
		if err == nil || !retry {
			return err
		}
		if after > 0 {
			wait = after
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-timer.C:
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// post sends one export. retry says whether it may be sent again, after
// at least after when the endpoint said so.
func (c *client) post(ctx context.Context, body []byte) (retry bool, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("otlp: %w", err)
	}
	for k, v := range c.cfg.Headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if c.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return ctx.Err() == nil, 0, fmt.Errorf("otlp: POST %s: %w", c.shown, redact(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		return false, 0, nil
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return true, after, fmt.Errorf("otlp: POST %s: status %d", c.shown, resp.StatusCode)
	}
	return false, 0, fmt.Errorf("otlp: POST %s: status %d", c.shown, resp.StatusCode)
}

// Redacted is endpoint as logs and errors may show it: the value of each
// query parameter replaced by "xxxxx" (a back end may take its key
// there; OTEL_EXPORTER_OTLP_HEADERS is the place for one).
func Redacted(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(not a URL)"
	}
	if u.RawQuery == "" {
		return u.Redacted()
	}
	q := u.Query()
	for k := range q {
		q[k] = []string{"xxxxx"}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// redact drops the URL net/http repeats in its errors: the endpoint is
// already named, once.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// mendUTF8 replaces what is not UTF-8 in the names and string values of
// every attribute of spans (their resource's, their own, their events'
// and links') by U+FFFD.
func mendUTF8(spans []*tracepb.ResourceSpans) {
	for _, rs := range spans {
		if rs.Resource != nil {
			mendAttributes(rs.Resource.Attributes)
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				s.Name = strings.ToValidUTF8(s.Name, "\uFFFD")
				mendAttributes(s.Attributes)
				for _, e := range s.Events {
					e.Name = strings.ToValidUTF8(e.Name, "\uFFFD")
					mendAttributes(e.Attributes)
				}
				for _, l := range s.Links {
					mendAttributes(l.Attributes)
				}
				if s.Status != nil {
					s.Status.Message = strings.ToValidUTF8(s.Status.Message, "\uFFFD")
				}
			}
		}
	}
}

func mendAttributes(kvs []*commonpb.KeyValue) {
	for _, kv := range kvs {
		kv.Key = strings.ToValidUTF8(kv.Key, "\uFFFD")
		mendValue(kv.Value)
	}
}

func mendValue(v *commonpb.AnyValue) {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		x.StringValue = strings.ToValidUTF8(x.StringValue, "\uFFFD")
	case *commonpb.AnyValue_ArrayValue:
		for _, e := range x.ArrayValue.GetValues() {
			mendValue(e)
		}
	case *commonpb.AnyValue_KvlistValue:
		mendAttributes(x.KvlistValue.GetValues())
	}
}
