package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/spaapi/app"
)

// Tracing (OpenTelemetry). With Config.Tracer set, every request is a
// server span: named by its method and route template (never the raw
// path), continuing the trace of a W3C traceparent header, with the
// status and, for a refusal, its reason; never the token, the proof, a
// header's value or a message's text. The verifier, the DPoP check, the
// replay cache and the stores add their spans under it through the
// request's context. Without a tracer none of this runs: logRequests
// tests one nil field.

// traceContext reads and writes W3C traceparent and tracestate headers.
var traceContext propagation.TraceContext

// Span attributes of a request. The keys are OpenTelemetry's semantic
// conventions for HTTP servers, and the API's own under "spaapi.".
const (
	attrMethod = attribute.Key("http.request.method")
	// attrMethodOriginal is a method outside knownMethods, as logged.
	attrMethodOriginal = attribute.Key("http.request.method_original")
	attrRoute          = attribute.Key("http.route")
	attrStatus         = attribute.Key("http.response.status_code")
	attrErrorType      = attribute.Key("error.type")
	attrReason         = attribute.Key("spaapi.refusal_reason")
	attrRequestID      = attribute.Key("spaapi.request_id")
	attrScheme         = attribute.Key("spaapi.auth_scheme")
)

// startSpan starts the request's span, a child of the trace the request's
// traceparent names, if any, and returns the request with the span in
// its context (a copy of r: the one allocation tracing adds before the
// span's own).
func startSpan(tracer trace.Tracer, x *exchange, r *http.Request, start time.Time) *http.Request {
	ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := tracer.Start(ctx, spanMethod(r.Method),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	x.info.span = span
	return r.WithContext(ctx)
}

// spanMethod is the method as a span's name starts: one of knownMethods,
// else "HTTP" (OpenTelemetry's HTTP conventions), so that no client adds
// span names.
func spanMethod(method string) string {
	if knownMethods[method] {
		return method
	}
	return "HTTP"
}

// endSpan ends the request's span, named and described once the request
// has been answered.
func endSpan(span trace.Span, method string, status int, info *requestInfo, end time.Time) {
	if span.IsRecording() {
		name := spanMethod(method)
		if info.route != "" {
			name += " " + info.route
		}
		span.SetName(name)
		attrs := make([]attribute.KeyValue, 0, 8)
		if knownMethods[method] {
			attrs = append(attrs, attrMethod.String(method))
		} else {
			attrs = append(attrs, attrMethod.String("_OTHER"), attrMethodOriginal.String(logMethod(method)))
		}
		attrs = append(attrs, attrStatus.Int(status), attrRequestID.String(info.id))
		if info.route != "" {
			attrs = append(attrs, attrRoute.String(info.route))
		}
		if info.protected {
			attrs = append(attrs, attrScheme.String(schemeName(info)))
		}
		if reason := info.logReason(); reason != "" {
			attrs = append(attrs, attrReason.String(reason))
		}
		// Server spans are errors for 5xx only: a 4xx is the client's.
		if status >= 500 && !info.clientGone {
			attrs = append(attrs, attrErrorType.String(strconv.Itoa(status)))
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.SetAttributes(attrs...)
	}
	span.End(trace.WithTimestamp(end))
}

// schemeName names how a protected request presented its token.
func schemeName(info *requestInfo) string {
	switch info.scheme {
	case app.SchemeBearer:
		return "Bearer"
	case app.SchemeDPoP:
		return "DPoP"
	}
	return "none"
}

// appendTraceIDs appends the request span's trace and span IDs to a log
// line, when it has a span.
func appendTraceIDs(b []byte, info *requestInfo) []byte {
	if info.span == nil {
		return b
	}
	sc := info.span.SpanContext()
	if !sc.IsValid() {
		return b
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	b = append(b, `,"trace_id":"`...)
	b = appendHex(b, tid[:])
	b = append(b, `","span_id":"`...)
	b = appendHex(b, sid[:])
	return append(b, '"')
}

func appendHex(b, src []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range src {
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}
