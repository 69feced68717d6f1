package httpapi

import (
	"log/slog"
	"net/http"
	"time"
)

// MaxHeaderBytes caps a request's head: the request line and the header
// fields. A longer one gets net/http's bare 431 Request Header Fields Too
// Large, and the connection is closed. net/http lets a head run 4 KiB past
// it (its read-ahead), so a connection that sends an unfinished head holds
// at most 44 KiB of it.
//
// The limit is sized for what clients send. The largest realistic request
// (TestLargeRealisticRequest) is a DPoP request from a browser with an
// Entra ID token listing 200 groups (Entra's cap before it sends a group
// overage claim instead), 14 KB, and a proof made with an RSA-4096 key,
// 1.9 KB: about 17.5 KB with a browser's usual headers. The token
// verifiers refuse tokens over 32 KiB (jwtverify.MaxTokenBytes) with an
// RFC 6750 invalid_token "token too large"; 40 KiB is that token plus
// 8 KiB for the proof and the other headers, so that every token a
// verifier would take fits, and one just too large for it gets the RFC
// 6750 answer, not a 431 (cmd/api's TestHeaderLimits checks both).
// Express (Node.js) refuses heads over 16 KiB, net/http's default is
// 1 MiB.
//
// Each connection may hold that much while its head arrives, so the
// limit sets the memory per connection that MAX_CONNS multiplies (see
// cmd/api's memory plan). Header fields are also capped in number
// (MaxHeaderFields).
const MaxHeaderBytes = 40 << 10

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
// a header size limit (and their HTTP/2 counterparts, http2.go), logging
// its own errors to log. Serve it on a listener from LimitConnections to
// cap its connections too, and with ServeTLS for HTTPS and HTTP/2.
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:           addr,
		Handler:        h,
		ReadTimeout:    headerTimeout, // also the header timeout
		WriteTimeout:   writeTimeout,
		IdleTimeout:    IdleTimeout,
		MaxHeaderBytes: MaxHeaderBytes,
		HTTP2:          http2Config(),
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
