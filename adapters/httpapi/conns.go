package httpapi

import (
	"bytes"
	"container/list"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Listener keeps an http.Server within a number of open connections, so
// that no crowd of clients can take every file descriptor (after which
// accept fails and even a polite new client waits until it times out).
//
// At the cap, a new connection takes the place of the longest-idle
// keep-alive connection, which is closed (HTTP/1.1 lets a server close an
// idle connection at any time; clients open a new one). When no connection
// is idle, the new one is refused at once with a 503 and closed: a fast,
// clear answer, never a wait. Connections that are open but silent are
// closed by the server's ReadHeaderTimeout, busy ones by its
// ReadTimeout/WriteTimeout.
//
// With LimitPerClient, one client (an IPv4 address, or an IPv6 /64, the
// least a host is given) holds at most a share of the cap: a crowd from one
// address cannot fill it, and the connections it would take stay for the
// others. A client at its share is refused with a 429; trusted proxies,
// which carry many clients' connections, are not held to it.
//
// It also caps the header fields of each request at MaxHeaderFields (see
// headScan): net/http caps only their bytes, and a request head of many
// tiny fields costs the server far more memory than its bytes.
type Listener struct {
	net.Listener
	max int
	log *slog.Logger

	// perClient is the most connections one client holds (0: no share);
	// exempt are the addresses not held to it. Set before serving.
	perClient int
	exempt    []netip.Prefix

	mu       sync.Mutex
	open     int
	idle     list.List // of *limitedConn, longest idle first
	byClient map[netip.Prefix]int

	refused, reaped, headRefused, clientRefused atomic.Uint64
	lastWarn, lastClientWarn                    atomic.Int64 // unix nanoseconds of the last refusal warning

	// tls: ServeTLS serves the connections. Those beyond the cap are
	// closed without the plain-text 503, which a TLS client could not
	// read, and request heads are counted above TLS (tlsHTTP1Conn).
	tls bool
}

// LimitConnections wraps ln so that srv, serving on the result, never
// has more than max connections open. It sets srv.ConnState (keeping any
// function already there) to learn which connections are idle.
func LimitConnections(srv *http.Server, ln net.Listener, max int, log *slog.Logger) *Listener {
	l := &Listener{Listener: ln, max: max, log: log}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		if tc, ok := c.(interface{ NetConn() net.Conn }); ok { // ServeTLS: the cap is below TLS
			c = tc.NetConn()
		}
		if lc, ok := c.(*limitedConn); ok {
			l.track(lc, state)
		}
		if prev != nil {
			prev(c, state)
		}
	}
	return l
}

// LimitPerClient holds each client to at most n of the cap's
// connections (n < 1: no share), except those from exempt (trusted
// proxies). Call it before serving.
func (l *Listener) LimitPerClient(n int, exempt []netip.Prefix) {
	l.perClient, l.exempt = max(n, 0), exempt
	l.byClient = map[netip.Prefix]int{}
}

// PerClient returns the share of one client (0: none).
func (l *Listener) PerClient() int { return l.perClient }

// clientOf is the client a connection from addr counts against
// (clientPrefix, as the failed-credential limit counts them); false for an
// exempt address or one that is not TCP.
func (l *Listener) clientOf(addr net.Addr) (netip.Prefix, bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip := tcp.AddrPort().Addr().Unmap()
	if isTrusted(ip, l.exempt) {
		return netip.Prefix{}, false
	}
	return clientPrefix(ip), true
}

// Accept returns the next connection within the cap, making room by
// closing the longest-idle connection, or refusing those beyond it (and
// those of a client at its share).
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l}
		admitted, victim, client := l.admit(lc)
		if victim != nil {
			l.reaped.Add(1)
			victim.Close()
		}
		if admitted {
			return lc, nil
		}
		if client {
			l.turnAway(c, clientRefusal, &l.clientRefused, &l.lastClientWarn,
				"a client reached its share of the connections: refusing its new ones with 429 (see MAX_CONNS_PER_CLIENT)",
				"client", c.RemoteAddr().String(), "max_conns_per_client", l.perClient)
			continue
		}
		l.turnAway(c, refusal, &l.refused, &l.lastWarn,
			"connection limit reached: refusing new connections with 503 (see MAX_CONNS)", "max_conns", l.max)
	}
}

// admit counts lc in if its client is within its share and there is room,
// or if an idle connection can make room (victim, to be closed by the
// caller). client reports a refusal for the client's share.
func (l *Listener) admit(lc *limitedConn) (ok bool, victim *limitedConn, client bool) {
	var who netip.Prefix
	counts := false
	if l.perClient > 0 {
		who, counts = l.clientOf(lc.RemoteAddr())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if counts && l.byClient[who] >= l.perClient {
		return false, nil, true
	}
	if ok, victim = l.place(lc); ok && counts {
		l.byClient[who]++
		lc.client, lc.perClient = who, true
	}
	return ok, victim, false
}

// place gives lc one of the l.max places, taking the longest-idle
// connection's (victim) when none is free. Called with l.mu held.
func (l *Listener) place(lc *limitedConn) (ok bool, victim *limitedConn) {
	if l.open < l.max {
		l.open++
		lc.counted = true
		return true, nil
	}
	front := l.idle.Front()
	if front == nil {
		return false, nil
	}
	// The victim hands its place to lc: it is no longer counted, so its
	// Close does not free a place lc already took.
	victim = l.idle.Remove(front).(*limitedConn)
	victim.elem, victim.counted = nil, false
	lc.counted = true
	return true, victim
}

// refusal is the whole answer to a connection beyond the cap.
var refusal = closingAnswer("503 Service Unavailable",
	`{"error":"temporarily_unavailable","error_description":"too many connections; retry in a moment"}`)

// closingAnswer is a whole HTTP/1.1 answer with a JSON body that asks the
// client to retry in a second on another connection: this one closes.
func closingAnswer(status, body string) []byte {
	body += "\n"
	return []byte("HTTP/1.1 " + status + "\r\n" +
		"Content-Type: application/json; charset=utf-8\r\n" +
		"Retry-After: 1\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// turnAway answers c with answer (plain HTTP only: a TLS client could not
// read it) and closes it, without waiting for the client: the answer fits
// in the socket's send buffer. It counts the refusal in count and warns
// at most once a minute (last), not once per connection.
func (l *Listener) turnAway(c net.Conn, answer []byte, count *atomic.Uint64, last *atomic.Int64, warning string, attrs ...any) {
	total := count.Add(1)
	if !l.tls {
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(answer)
	}
	c.Close()
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev >= int64(time.Minute) && last.CompareAndSwap(prev, now) && l.log != nil {
		l.log.Warn(warning, append(attrs, "refused_total", total)...)
	}
}

// clientRefusal is the whole answer to a connection beyond its client's
// share.
var clientRefusal = closingAnswer("429 Too Many Requests",
	`{"error":"too_many_requests","error_description":"too many connections from your address; reuse those you have open"}`)

// ClientRefused returns how many connections were refused for their
// client's share.
func (l *Listener) ClientRefused() uint64 { return l.clientRefused.Load() }

// track follows the server's view of a connection: idle ones are
// candidates for closing when a new one arrives at the cap. A new or idle
// connection is reading a request head (net/http calls it active once the
// head is read), whose header fields it counts.
func (l *Listener) track(lc *limitedConn, state http.ConnState) {
	switch state {
	case http.StateNew, http.StateIdle:
		lc.head.reset()
		lc.inHead.Store(true)
	case http.StateActive:
		lc.inHead.Store(false)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case state == http.StateIdle && lc.counted && lc.elem == nil:
		lc.elem = l.idle.PushBack(lc)
	case state != http.StateIdle && lc.elem != nil:
		l.idle.Remove(lc.elem)
		lc.elem = nil
	}
}

// release frees lc's place. Called once, when lc closes.
func (l *Listener) release(lc *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc.elem != nil {
		l.idle.Remove(lc.elem)
		lc.elem = nil
	}
	if lc.counted {
		lc.counted = false
		l.open--
	}
	if lc.perClient {
		lc.perClient = false
		if n := l.byClient[lc.client] - 1; n > 0 {
			l.byClient[lc.client] = n
		} else {
			delete(l.byClient, lc.client)
		}
	}
}

// Open returns the number of connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Idle returns the number of open connections that are idle now.
func (l *Listener) Idle() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle.Len()
}

// Max returns the cap.
func (l *Listener) Max() int { return l.max }

// Refused returns how many connections were refused at the cap.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Reaped returns how many idle connections were closed to make room.
func (l *Listener) Reaped() uint64 { return l.reaped.Load() }

// limitedConn is a connection counted by a Listener until it closes.
type limitedConn struct {
	net.Conn
	l         *Listener
	closeOnce sync.Once
	// inHead: the server is reading a request head (set by track). head
	// is only used by the goroutine serving the connection, while inHead.
	inHead atomic.Bool
	head   headScan
	// Guarded by l.mu:
	counted   bool          // holds one of the l.max places
	elem      *list.Element // in l.idle while idle
	perClient bool          // counted in l.byClient[client]
	client    netip.Prefix
}

// Read reads from the connection, counting the header fields of a request
// head as they arrive; past MaxHeaderFields the client gets a 431 and the
// server an end of file, after which it closes the connection.
func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.l.tls && !c.countHead(p[:n], c.Conn) {
		return 0, io.EOF
	}
	return n, err
}

// countHead counts the header fields in b, the next bytes of the
// connection as the server reads them, while it reads a request head. It
// reports false when the head has too many, after answering 431 on w.
func (c *limitedConn) countHead(b []byte, w net.Conn) bool {
	if c.inHead.Load() && !c.head.scan(b) {
		c.l.refuseHead(w)
		return false
	}
	return true
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.release(c) })
	return err
}

// MaxHeaderFields is the most header fields a request may have; a request
// with more gets 431 Request Header Fields Too Large. Browsers send 15 to
// 30, proxies add a few; Apache httpd, Tomcat and HAProxy refuse more than
// about 100 too. net/http keeps each field in a map entry of about 100
// bytes whatever its length, so 10,000 four-byte fields, which fit in the
// header size limit, would hold a megabyte per connection.
const MaxHeaderFields = 100

// headScan counts the lines of one request head as the connection reads
// it: the request line, then header fields (a field folded over several
// lines counts each line) up to the empty line that ends the head. What
// follows the empty line in the same read (a body, or the next pipelined
// request) is not counted; net/http reads at most 4 KiB ahead, so a head
// that arrived that way has at most 4 KiB of fields uncounted.
type headScan struct {
	lines int  // complete lines of this head
	part  int  // bytes of the line being read, at most 2 counted
	cr    bool // the line being read starts with '\r'
	done  bool // the head has ended: nothing more is counted
}

func (h *headScan) reset() { *h = headScan{} }

// scan counts the lines in b, the next bytes read; it reports false once
// the head has more than MaxHeaderFields fields.
func (h *headScan) scan(b []byte) bool {
	for !h.done && len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		seg := b
		if i >= 0 {
			seg = b[:i]
		}
		if len(seg) > 0 {
			if h.part == 0 {
				h.cr = seg[0] == '\r'
			}
			h.part = min(h.part+len(seg), 2)
		}
		if i < 0 {
			return true
		}
		b = b[i+1:]
		empty := h.part == 0 || h.part == 1 && h.cr
		h.part, h.cr = 0, false
		switch {
		case empty && h.lines > 0:
			h.done = true // the end of the head
		case empty:
			// An empty line before the request line: net/http skips or
			// refuses it; either way it holds nothing.
		default:
			h.lines++
			if h.lines > 1+MaxHeaderFields { // the request line, then fields
				return false
			}
		}
	}
	return true
}

// headRefusal is the whole answer to a request with too many header
// fields, as net/http answers one with too many header bytes.
const headRefusal = "HTTP/1.1 431 Request Header Fields Too Large\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"431 Request Header Fields Too Large: more than 100 header fields"

// refuseHead answers 431 on c, without waiting for a client that does
// not read. The server closes c after.
func (l *Listener) refuseHead(c net.Conn) {
	l.headRefused.Add(1)
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = io.WriteString(c, headRefusal)
}

// HeadRefused returns how many requests were refused for having more
// than MaxHeaderFields header fields.
func (l *Listener) HeadRefused() uint64 { return l.headRefused.Load() }

// Collectors are the listener's metrics, without labels: connections open
// and the cap, connections refused at the cap, idle ones closed for room.
func (l *Listener) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "http_connections_open", Help: "Connections to the API open now.",
		}, func() float64 { return float64(l.Open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "http_connections_max", Help: "The most connections the API holds open at once (MAX_CONNS).",
		}, func() float64 { return float64(l.max) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "http_connections_refused_total", Help: "Connections refused with 503 because MAX_CONNS were open and none was idle.",
		}, func() float64 { return float64(l.Refused()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "http_connections_client_refused_total", Help: "Connections refused with 429 because their client (an IPv4 address or IPv6 /64) held MAX_CONNS_PER_CLIENT.",
		}, func() float64 { return float64(l.ClientRefused()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "http_connections_reaped_total", Help: "Idle keep-alive connections closed to make room for new ones at MAX_CONNS.",
		}, func() float64 { return float64(l.Reaped()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "http_requests_too_many_header_fields_total", Help: "Requests refused with 431 for more than 100 header fields (before any route sees them).",
		}, func() float64 { return float64(l.HeadRefused()) }),
	}
}
