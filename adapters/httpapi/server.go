package httpapi

import (
	"log/slog"
	"net/http"
	"time"
)

// MaxHeaderBytes caps request headers. It leaves room for large tokens so
// that they are refused with an RFC 6750 answer rather than a bare 431.
const MaxHeaderBytes = 256 << 10

// IdleTimeout is how long a keep-alive connection may wait for its next
// request. Short, so idle connections give their file descriptors back
// soon; a browser simply opens a new connection. (At the connection cap,
// see LimitConnections, idle connections are closed even sooner.)
const IdleTimeout = 30 * time.Second

// Timeouts of every request. headerTimeout covers the whole request, body
// included, except where the API reads a JSON body (decode), which gives
// the body bodyTimeout from then. (The development issuer's small forms
// keep the 5 s.) One read deadline for headers and body spares net/http a
// second SetReadDeadline on every request.
var (
	headerTimeout = 5 * time.Second
	bodyTimeout   = 15 * time.Second
	writeTimeout  = 30 * time.Second
)

// NewServer returns an http.Server for h with timeouts on every phase and
// a header size limit, logging its own errors to log. Serve it on a
// listener from LimitConnections to cap its connections too.
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:           addr,
		Handler:        h,
		ReadTimeout:    headerTimeout, // also the header timeout
		WriteTimeout:   writeTimeout,
		IdleTimeout:    IdleTimeout,
		MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
