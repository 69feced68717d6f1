package jwtverify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/spaapi/domain"
)

// Tracing (OpenTelemetry), with Options.Tracer set:
//
//   - "token.verify", a child of the request's span: the provider, the
//     issuer, the key id the token names, whether the verified-token
//     cache answered, and the refusal reason; never the token or its
//     claims. A request that has to wait for a key fetch notes it as an
//     event.
//   - "jwks.fetch", each fetch of the discovery document and the key set:
//     always a trace of its own, since one fetch (in the background, or
//     asked for by any number of requests with an unknown kid) serves
//     everyone; it links to the spans of the requests that asked. Its
//     HTTP calls are client spans whose W3C traceparent is sent along.
//
// Without a tracer, Verify and the fetches test one nil field.

// Span attribute keys: the API's own, under "spaapi.".
const (
	attrProvider    = attribute.Key("spaapi.auth_provider")
	attrIssuer      = attribute.Key("spaapi.token.issuer")
	attrKID         = attribute.Key("spaapi.token.kid")
	attrCache       = attribute.Key("spaapi.token.cache")
	attrReason      = attribute.Key("spaapi.refusal_reason")
	attrTrigger     = attribute.Key("spaapi.jwks.trigger")
	attrKeys        = attribute.Key("spaapi.jwks.keys")
	attrURL         = attribute.Key("url.full")
	attrMethod      = attribute.Key("http.request.method")
	attrStatus      = attribute.Key("http.response.status_code")
	attrServer      = attribute.Key("server.address")
	attrErrorType   = attribute.Key("error.type")
	maxTracedKIDLen = 128
)

// traceContext writes W3C traceparent and tracestate headers.
var traceContext propagation.TraceContext

// verifyNote is what a traced verification tells its span.
type verifyNote struct {
	issuer string
	cache  string // "hit", "miss", or "" with the cache off
}

// verifyTraced is Verify inside a "token.verify" span.
func (v *Verifier) verifyTraced(ctx context.Context, rawToken string) (domain.Principal, error) {
	ctx, span := v.opts.Tracer.Start(ctx, "token.verify")
	defer span.End()
	var note verifyNote
	p, err := v.verify(ctx, rawToken, &note)
	if !span.IsRecording() {
		return p, err
	}
	attrs := []attribute.KeyValue{attrProvider.String(v.opts.Provider)}
	if note.issuer != "" {
		attrs = append(attrs, attrIssuer.String(note.issuer))
	}
	if kid, ok := peekKID(rawToken); ok {
		attrs = append(attrs, attrKID.String(kid))
	}
	if note.cache != "" {
		attrs = append(attrs, attrCache.String(note.cache))
	}
	span.SetAttributes(attrs...)
	EndWithError(span, err)
	return p, err
}

// EndWithError marks span as failed for err, by a fixed text: a token's
// refusal reason, or "unavailable"; never the error's own text, which
// may quote what a client sent. (Also used by the introspection adapter.)
func EndWithError(span trace.Span, err error) {
	if err == nil {
		return
	}
	var te *domain.TokenError
	switch {
	case errors.As(err, &te):
		span.SetAttributes(attrReason.String(string(te.Reason)))
		span.SetStatus(codes.Error, string(te.Reason))
	case errors.Is(err, domain.ErrUnavailable):
		span.SetStatus(codes.Error, "unavailable")
	default:
		span.SetStatus(codes.Error, "refused")
	}
}

// peekKID reads the "kid" a token's header names, unverified, for the
// span only: at most maxTracedKIDLen bytes of it.
func peekKID(raw string) (string, bool) {
	h, _, ok := strings.Cut(raw, ".")
	if !ok || len(h) > 4<<10 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", false
	}
	var header struct {
		KID *string `json:"kid"`
	}
	if json.Unmarshal(b, &header) != nil || header.KID == nil {
		return "", false
	}
	kid := *header.KID // UTF-8: encoding/json mends what is not
	if len(kid) > maxTracedKIDLen {
		cut := maxTracedKIDLen
		for cut > 0 && !utf8.RuneStart(kid[cut]) {
			cut-- // not in the middle of a character
		}
		kid = kid[:cut]
	}
	return kid, true
}

// askedForKeys notes, in the span of the request waiting for a key fetch,
// that it waits, and returns a link to it for the fetch's span.
func askedForKeys(ctx context.Context) (trace.Link, bool) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return trace.Link{}, false
	}
	span.AddEvent("waiting for a signing key fetch")
	return trace.Link{SpanContext: span.SpanContext()}, true
}

// maxFetchLinks bounds the requests a fetch's span links to.
const maxFetchLinks = 16

// startFetchSpan starts the span of one key fetch, a root linked to the
// requests that asked for it; trigger says why it runs.
func (s *keySource) startFetchSpan(ctx context.Context, trigger string, links []trace.Link) (context.Context, trace.Span) {
	return s.opts.Tracer.Start(ctx, "jwks.fetch", trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithAttributes(attrProvider.String(s.opts.Provider), attrIssuer.String(s.base), attrTrigger.String(trigger)))
}

// endFetchSpan ends a fetch's span with its result.
func (s *keySource) endFetchSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, "fetch failed")
	} else {
		span.SetAttributes(attrKeys.Int64(s.keysCount.Load()))
	}
	span.End()
}

// startHTTPSpan starts a client span for req, made on behalf of the span in
// ctx (nil when tracer is nil or ctx has none), and puts its W3C
// traceparent in req's headers.
func startHTTPSpan(tracer trace.Tracer, req *http.Request) trace.Span {
	if tracer == nil || !trace.SpanFromContext(req.Context()).SpanContext().IsValid() {
		return nil
	}
	ctx, span := tracer.Start(req.Context(), req.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrMethod.String(req.Method), attrURL.String(req.URL.Redacted()), attrServer.String(req.URL.Hostname())))
	traceContext.Inject(ctx, propagation.HeaderCarrier(req.Header))
	return span
}

// endHTTPSpan ends a client span with the answer's status, or the error.
func endHTTPSpan(span trace.Span, resp *http.Response, err error) {
	if span == nil {
		return
	}
	switch {
	case err != nil:
		span.SetAttributes(attrErrorType.String("connection"))
		span.SetStatus(codes.Error, "no answer")
	case resp.StatusCode >= 400:
		span.SetAttributes(attrStatus.Int(resp.StatusCode), attrErrorType.String(http.StatusText(resp.StatusCode)))
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	default:
		span.SetAttributes(attrStatus.Int(resp.StatusCode))
	}
	span.End()
}

// TraceHTTP starts a client span for req (as startHTTPSpan) and returns
// the function that ends it; for the adapters built on this one that make
// calls of their own (introspection). With a nil tracer it does nothing.
func TraceHTTP(tracer trace.Tracer, req *http.Request) func(*http.Response, error) {
	span := startHTTPSpan(tracer, req)
	if span == nil {
		return untraced
	}
	return func(resp *http.Response, err error) { endHTTPSpan(span, resp, err) }
}

func untraced(*http.Response, error) {}
