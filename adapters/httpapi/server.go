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

// NewServer returns an http.Server for h with timeouts on every phase and
// a header size limit, logging its own errors to log. Serve it on a
// listener from LimitConnections to cap its connections too.
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
