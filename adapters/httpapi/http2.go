package httpapi

import (
	"net/http"
	"strconv"
)

// HTTP/2 limits (served over TLS only: ServeTLS). An HTTP/2 connection
// carries many requests at once, each a stream, and net/http applies the
// server's other limits to it thus:
//
//   - MaxHeaderBytes becomes SETTINGS_MAX_HEADER_LIST_SIZE (plus 320
//     bytes: HTTP/2 counts 32 bytes more per field). A header block over
//     it gets 431 if its last frame crosses it, else ends the connection
//     (net/http stops reading such a block). MaxHeaderFields is checked
//     once the block is read (limitHTTP2Fields).
//   - ReadTimeout covers the TLS handshake (ServeTLS), then each stream's
//     body from its headers on (decode extends it per stream, as for
//     HTTP/1.1). net/http gives the HTTP/2 preface a fixed 10 s.
//   - WriteTimeout is per stream: a stream whose answer is not written
//     within it is reset (RST_STREAM), the connection's other streams go
//     on.
//   - IdleTimeout closes a connection (GOAWAY) that has had no stream open
//     for that long.
//   - Request bodies are read through decode's http.MaxBytesReader, per
//     stream, as over HTTP/1.1.
//   - The connection cap (LimitConnections) counts HTTP/2 connections like
//     any other, and closes idle ones (no stream open) to make room.
const (
	// MaxConcurrentStreams is the most requests one HTTP/2 connection may
	// have in progress at once (SETTINGS_MAX_CONCURRENT_STREAMS); a client
	// that opens more has them refused (RST_STREAM REFUSED_STREAM, which
	// clients retry), and clients that keep to it (browsers, Go's) queue
	// the rest. It is the number that bounds an HTTP/2 connection's
	// memory, as one request bounds an HTTP/1.1 connection's: each stream
	// holds its header block (up to MaxHeaderBytes, decoded, in up to
	// 1,250 fields: about 130 KB measured) for as long as its answer is
	// not taken, up to the 30 s write timeout, and a client can make that
	// happen for every stream (a flow-control window of 0), also through
	// net/http's own 431 answers, which no handler here sees. So at 10 a
	// connection holds at most about 1.5 MB (cmd/api's memory plan counts
	// it), where RFC 9113's recommended least of 100 (Apache httpd's
	// default, Envoy's edge setting; nginx 128, Go 250) would let one
	// connection hold as much as 200 HTTP/1.1 connections. Ten calls at
	// once is more than a browser running the SPA makes of the API.
	MaxConcurrentStreams = 10

	// http2ReadFrameSize is the largest frame a client may send
	// (SETTINGS_MAX_FRAME_SIZE): the protocol's least, 16 KiB. The server
	// reads a whole frame into memory before looking at it, so this is
	// what one connection's frame buffer may hold (Go's default is 1 MiB).
	http2ReadFrameSize = 16 << 10

	// http2StreamWindow and http2ConnWindow are the flow-control windows:
	// how much request body a client may send ahead of the handler reading
	// it, per stream and per connection. The server holds that in memory
	// (Go's default is 1 MiB for each), where over HTTP/1.1 unread body
	// bytes stay in the socket. Bodies are at most 16 KiB (maxBody), so a
	// stream window of twice that never slows a request down; 64 KiB is
	// the least Go accepts for a connection (the protocol's initial 65,535
	// bytes).
	http2StreamWindow = 2 * maxBody
	http2ConnWindow   = 64 << 10

	// http2HeaderTableSize is the HPACK dynamic table each side keeps per
	// connection (SETTINGS_HEADER_TABLE_SIZE): the protocol's default,
	// 4 KiB, stated here so that it is not raised by accident.
	http2HeaderTableSize = 4 << 10
)

// http2Config is the HTTP/2 part of NewServer's limits.
func http2Config() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxConcurrentStreams:          MaxConcurrentStreams,
		MaxReadFrameSize:              http2ReadFrameSize,
		MaxReceiveBufferPerStream:     http2StreamWindow,
		MaxReceiveBufferPerConnection: http2ConnWindow,
		MaxDecoderHeaderTableSize:     http2HeaderTableSize,
		MaxEncoderHeaderTableSize:     http2HeaderTableSize,
		// A connection whose writes make no progress for this long (a
		// client that stopped reading) is closed: over HTTP/1.1 the write
		// deadline does that.
		WriteByteTimeout: writeTimeout,
	}
}

// limitHTTP2Fields wraps h, the server's handler, for ServeTLS (counting
// refusals with l's): an HTTP/2
// request with more than MaxHeaderFields header fields gets 431, as over
// HTTP/1.1, where the listener counts them as they arrive (over HTTP/2
// net/http has decoded them by then: the count keeps the behaviour alike,
// the memory is bounded by the header list size and MaxConcurrentStreams).
func (l *Listener) limitHTTP2Fields(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && headerFields(r.Header) > MaxHeaderFields {
			l.headRefused.Add(1)
			w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
			w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
			w.Write([]byte("431 Request Header Fields Too Large: more than " + strconv.Itoa(MaxHeaderFields) + " header fields"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// headerFields counts a request's header fields, each value as one.
func headerFields(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}
