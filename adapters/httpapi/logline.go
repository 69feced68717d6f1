package httpapi

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// LogHandler is slog's JSONHandler (default options) writing to one
// writer, through which the request log writes its lines itself, in the
// same format, byte for byte: slog's general path (attributes, values,
// ReplaceAttr checks, a float through encoding/json) was the largest
// cost of a cached /api/private request that this package controls.
// With any other handler the request log goes through slog as usual.
// Loggers derived with With or WithGroup are JSON handlers that write
// through the same lock.
//
// A line logged with a context that holds an OpenTelemetry span (the
// request's, under a tracer) carries its trace_id and span_id.
type LogHandler struct {
	*slog.JSONHandler
	out *lockedWriter
}

// NewLogHandler returns a LogHandler writing JSON lines to w, from level
// INFO up.
func NewLogHandler(w io.Writer) *LogHandler { return NewLogHandlerAt(w, slog.LevelInfo) }

// NewLogHandlerAt returns a LogHandler writing JSON lines of level and
// above to w (LOG_LEVEL).
func NewLogHandlerAt(w io.Writer, level slog.Leveler) *LogHandler {
	out := &lockedWriter{w: w}
	return &LogHandler{JSONHandler: slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}), out: out}
}

// Handle writes r, with the trace_id and span_id of the span in ctx if
// there is one.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.JSONHandler.Handle(ctx, withTraceIDs(ctx, r))
}

// WithAttrs and WithGroup keep adding trace IDs in derived loggers.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return tracedHandler{h.JSONHandler.WithAttrs(attrs)}
}

func (h *LogHandler) WithGroup(name string) slog.Handler {
	return tracedHandler{h.JSONHandler.WithGroup(name)}
}

// tracedHandler is a derived LogHandler: it adds the trace IDs.
type tracedHandler struct{ slog.Handler }

func (h tracedHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.Handler.Handle(ctx, withTraceIDs(ctx, r))
}

func (h tracedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return tracedHandler{h.Handler.WithAttrs(attrs)}
}

func (h tracedHandler) WithGroup(name string) slog.Handler {
	return tracedHandler{h.Handler.WithGroup(name)}
}

// withTraceIDs returns r with the trace_id and span_id of ctx's span, or r
// itself when ctx has none.
func withTraceIDs(ctx context.Context, r slog.Record) slog.Record {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return r
	}
	r = r.Clone()
	r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	return r
}

// lockedWriter serializes the handler's writes and the request lines'.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeRequestLine writes what logRequest would have slog write. It
// reports false, writing nothing, for a time slog's JSON would not show
// as is (a year outside 0-9999).
func (h *LogHandler) writeRequestLine(end time.Time, level slog.Level, method string, status int, took time.Duration, info *requestInfo) bool {
	st := stampOf(end)
	if st == nil {
		return false
	}
	bp := lineBuffers.Get().(*[]byte)
	b := append((*bp)[:0], `{"time":"`...)
	b = st.append(b, end.Nanosecond())
	b = append(b, `","level":`...)
	b = appendJSONString(b, level.String())
	b = append(b, `,"msg":"request","method":`...)
	b = appendJSONString(b, logMethod(method))
	b = append(b, `,"route":`...)
	b = appendJSONString(b, info.route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendJSONFloat(b, durationMS(took))
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, info.id)
	if info.principal.Subject != "" {
		b = append(b, `,"subject":`...)
		b = appendJSONString(b, info.principal.Subject)
	}
	if reason := info.logReason(); reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, reason)
	}
	if status >= 500 && info.err != nil {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, info.err.Error())
	}
	b = appendTraceIDs(b, info)
	b = append(b, "}\n"...)
	_, _ = h.out.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		lineBuffers.Put(bp)
	}
	return true
}

// stamp is a log line's time in RFC 3339 as slog writes it, less the
// fraction of a second: what all lines written within one second share.
type stamp struct {
	sec  int64
	loc  *time.Location
	date []byte // 2006-01-02T15:04:05
	zone []byte // Z or -07:00
}

// lastStamp is the stamp of the latest second logged, so that lines
// format a date once a second rather than once each.
var lastStamp atomic.Pointer[stamp]

// stampOf returns t's stamp, or nil for a time slog's JSON would not
// show as is (a year outside 0-9999).
func stampOf(t time.Time) *stamp {
	sec, loc := t.Unix(), t.Location()
	if st := lastStamp.Load(); st != nil && st.sec == sec && st.loc == loc {
		return st
	}
	whole := time.Unix(sec, 0).In(loc)
	if y := whole.Year(); y < 0 || y >= 10000 {
		return nil
	}
	f := whole.AppendFormat(nil, time.RFC3339)
	st := &stamp{sec: sec, loc: loc, date: f[:19], zone: f[19:]}
	lastStamp.Store(st)
	return st
}

// append appends the time at ns nanoseconds into the stamp's second as
// time.RFC3339Nano writes it: the fraction without trailing zeros, and
// none at all for a whole second.
func (st *stamp) append(b []byte, ns int) []byte {
	b = append(b, st.date...)
	if ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, st.zone...)
}

// StatusClientClosedRequest is the status the log and the metrics give a
// request whose client closed the connection before it was answered
// (nginx's 499): no answer was sent, and it is no server error.
const StatusClientClosedRequest = 499

// logReason is the log line's reason: the auth refusal, else the note,
// else for a client that went away "client_closed_request".
func (info *requestInfo) logReason() string {
	switch {
	case info.reason != "":
		return info.reason
	case info.note != "":
		return info.note
	case info.clientGone:
		return "client_closed_request"
	}
	return ""
}

// durationMS is the log line's duration_ms: milliseconds, to the
// microsecond.
func durationMS(took time.Duration) float64 { return float64(took.Microseconds()) / 1000 }

// appendJSONFloat appends f as encoding/json (and so slog) writes a
// float64.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 to e-9, as encoding/json
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString appends s quoted as slog's JSON handler quotes it:
// quotes, backslashes and control characters escaped (\n, \r, \t, else
// \u00XX), invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped; all else,
// <, > and & included, as is.
func appendJSONString(b []byte, s string) []byte { return appendQuoted(b, s, false) }

// logRequest writes the request's log line to h, the logger's handler:
// itself if h is a LogHandler, else through slog, directly (as
// log.LogAttrs would, but without looking up the caller, which no handler
// here reports, and with the line's time already at hand).
func logRequest(ctx context.Context, h slog.Handler, end time.Time, method string, status int, took time.Duration, info *requestInfo) {
	level := slog.LevelInfo
	switch {
	case status >= 500 && info.warn:
		level = slog.LevelWarn
	case status >= 500:
		level = slog.LevelError
	}
	if !h.Enabled(ctx, level) {
		return
	}
	if lh, ok := h.(*LogHandler); ok && lh.writeRequestLine(end, level, method, status, took, info) {
		return
	}
	rec := slog.NewRecord(end, level, "request", 0)
	rec.AddAttrs(
		slog.String("method", logMethod(method)),
		slog.String("route", info.route),
		slog.Int("status", status),
		slog.Float64("duration_ms", durationMS(took)),
		slog.String("request_id", info.id),
	)
	if info.principal.Subject != "" {
		rec.AddAttrs(slog.String("subject", info.principal.Subject))
	}
	if reason := info.logReason(); reason != "" {
		rec.AddAttrs(slog.String("reason", reason))
	}
	if status >= 500 && info.err != nil {
		rec.AddAttrs(slog.String("error", info.err.Error()))
	}
	if info.span != nil {
		if sc := info.span.SpanContext(); sc.IsValid() {
			rec.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	_ = h.Handle(ctx, rec)
}
