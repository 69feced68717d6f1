package httpapi

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
)

// LogHandler is slog's JSONHandler (default options) writing to one
// writer, through which the request log writes its lines itself, in the
// same format, byte for byte: slog's general path (attributes, values,
// ReplaceAttr checks, a float through encoding/json) was the largest
// cost of a cached /api/private request that this package controls.
// With any other handler the request log goes through slog as usual.
// Loggers derived with With or WithGroup are plain JSON handlers.
type LogHandler struct {
	*slog.JSONHandler
	out *lockedWriter
}

// NewLogHandler returns a LogHandler writing JSON lines to w.
func NewLogHandler(w io.Writer) *LogHandler {
	out := &lockedWriter{w: w}
	return &LogHandler{JSONHandler: slog.NewJSONHandler(out, nil), out: out}
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
	if y := end.Year(); y < 0 || y >= 10000 {
		return false
	}
	bp := lineBuffers.Get().(*[]byte)
	b := append((*bp)[:0], `{"time":"`...)
	b = end.Round(0).AppendFormat(b, time.RFC3339Nano)
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
	if info.reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, info.reason)
	}
	if status >= 500 && info.err != nil {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, info.err.Error())
	}
	b = append(b, "}\n"...)
	_, _ = h.out.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		lineBuffers.Put(bp)
	}
	return true
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
	if status >= 500 {
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
	if info.reason != "" {
		rec.AddAttrs(slog.String("reason", info.reason))
	}
	if status >= 500 && info.err != nil {
		rec.AddAttrs(slog.String("error", info.err.Error()))
	}
	_ = h.Handle(ctx, rec)
}
