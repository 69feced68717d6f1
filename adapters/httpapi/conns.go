package httpapi

import (
	"container/list"
	"log/slog"
	"net"
	"net/http"
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
type Listener struct {
	net.Listener
	max int
	log *slog.Logger

	mu   sync.Mutex
	open int
	idle list.List // of *limitedConn, longest idle first

	refused, reaped atomic.Uint64
	lastWarn        atomic.Int64 // unix nanoseconds of the last refusal warning
}

// LimitConnections wraps ln so that srv, serving on the result, never
// has more than max connections open. It sets srv.ConnState (keeping any
// function already there) to learn which connections are idle.
func LimitConnections(srv *http.Server, ln net.Listener, max int, log *slog.Logger) *Listener {
	l := &Listener{Listener: ln, max: max, log: log}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		if lc, ok := c.(*limitedConn); ok {
			l.track(lc, state)
		}
		if prev != nil {
			prev(c, state)
		}
	}
	return l
}

// Accept returns the next connection within the cap, making room by
// closing the longest-idle connection, or refusing those beyond it.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l}
		admitted, victim := l.admit(lc)
		if victim != nil {
			l.reaped.Add(1)
			victim.Close()
		}
		if admitted {
			return lc, nil
		}
		l.refuse(c)
	}
}

// admit counts lc in if there is room, or if an idle connection can make
// room (victim, to be closed by the caller).
func (l *Listener) admit(lc *limitedConn) (ok bool, victim *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
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
var refusal = func() []byte {
	body := `{"error":"temporarily_unavailable","error_description":"too many connections; retry in a moment"}` + "\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: application/json; charset=utf-8\r\n" +
		"Retry-After: 1\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// refuse answers c with a 503 and closes it, without waiting for the
// client: the answer fits in the socket's send buffer.
func (l *Listener) refuse(c net.Conn) {
	l.refused.Add(1)
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write(refusal)
	c.Close()
	// Warn at most once a minute, not once per refused connection.
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last >= int64(time.Minute) && l.lastWarn.CompareAndSwap(last, now) && l.log != nil {
		l.log.Warn("connection limit reached: refusing new connections with 503 (see MAX_CONNS)",
			"max_conns", l.max, "refused_total", l.refused.Load())
	}
}

// track follows the server's view of a connection: idle ones are
// candidates for closing when a new one arrives at the cap.
func (l *Listener) track(lc *limitedConn, state http.ConnState) {
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
	// Guarded by l.mu:
	counted bool          // holds one of the l.max places
	elem    *list.Element // in l.idle while idle
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.release(c) })
	return err
}

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
			Name: "http_connections_reaped_total", Help: "Idle keep-alive connections closed to make room for new ones at MAX_CONNS.",
		}, func() float64 { return float64(l.Reaped()) }),
	}
}
