package httpapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/httpapi/tlstest"
)

// The HTTP/2 limits are tested by speaking HTTP/2 frame by frame, as a
// hostile client would: Go's own client keeps to the limits the server
// announces (it refuses to send a header block over the announced size,
// and waits for a stream rather than open one too many), so it cannot
// show that the server enforces them.

// HTTP/2 frame types and flags (RFC 9113 §6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4

	errCodeProtocol      = 0x1
	errCodeCompression   = 0x9
	errCodeRefusedStream = 0x7
)

type frame struct {
	typ, flags byte
	stream     uint32
	payload    []byte
}

// h2Client is one HTTP/2 connection driven frame by frame.
type h2Client struct {
	t    *testing.T
	conn *tls.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
}

// serveTLSForTest serves h with NewServer's settings (adjust may change
// them) over TLS on loopback, capped at max connections, until the test
// ends. It returns the address and the CA the certificate comes from.
func serveTLSForTest(t *testing.T, h http.Handler, max int, adjust func(*http.Server, *Listener)) (addr string, ca *tlstest.CA, l *Listener) {
	t.Helper()
	ca = tlstest.NewCA(t, "h2 CA")
	certFile, keyFile := ca.Issue(t, tlstest.Options{}).Write(t, t.TempDir())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cert, stop, err := WatchCertificate(context.Background(), certFile, keyFile, time.Hour, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	srv := NewServer("", h, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l = LimitConnections(srv, ln, max, log)
	if adjust != nil {
		adjust(srv, l)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ServeTLS(srv, l, cert)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String(), ca, l
}

// dialH2 connects, checks that h2 was negotiated, and sends the preface
// and an empty SETTINGS frame.
func dialH2(t *testing.T, addr string, ca *tlstest.CA) *h2Client {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, ca.ClientConfig("localhost", "h2", "http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN: got %q, want h2", p)
	}
	c := &h2Client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if _, err := io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.write(frameSettings, 0, 0, nil)
	return c
}

func (c *h2Client) write(typ, flags byte, stream uint32, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	hdr := make([]byte, 9, 9+len(payload))
	hdr[0], hdr[1], hdr[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	hdr[3], hdr[4] = typ, flags
	binary.BigEndian.PutUint32(hdr[5:], stream)
	_, err := c.conn.Write(append(hdr, payload...))
	return err
}

// read returns the next frame, answering SETTINGS and PING on the way
// (the frames it answers are returned too).
func (c *h2Client) read() (frame, error) {
	var hdr [9]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return frame{}, err
	}
	f := frame{typ: hdr[3], flags: hdr[4], stream: binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff}
	f.payload = make([]byte, int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2]))
	if _, err := io.ReadFull(c.r, f.payload); err != nil {
		return frame{}, err
	}
	switch {
	case f.typ == frameSettings && f.flags&flagAck == 0:
		c.write(frameSettings, flagAck, 0, nil)
	case f.typ == framePing && f.flags&flagAck == 0:
		c.write(framePing, flagAck, 0, f.payload)
	}
	return f, nil
}

// settled reads until the server has acknowledged the client's SETTINGS
// (and so has sent its own, which read acknowledged): from then on the
// server's limits are in force. It returns the server's settings.
func (c *h2Client) settled() map[uint16]uint32 {
	c.t.Helper()
	settings := map[uint16]uint32{}
	for acked := false; !acked; {
		f, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for the server's SETTINGS: %v", err)
		}
		if f.typ == frameSettings && f.flags&flagAck == 0 {
			for p := f.payload; len(p) >= 6; p = p[6:] {
				settings[binary.BigEndian.Uint16(p)] = binary.BigEndian.Uint32(p[2:])
			}
		}
		acked = f.typ == frameSettings && f.flags&flagAck != 0
	}
	return settings
}

// request sends a request's header block on stream, in frames of at most
// 16 KiB (HEADERS, then CONTINUATION), ending the stream unless body is
// to follow.
func (c *h2Client) request(stream uint32, method, path string, endStream bool, extra ...string) {
	c.t.Helper()
	fields := append([]string{":method", method, ":scheme", "https", ":authority", "localhost", ":path", path}, extra...)
	block := hpackLiterals(fields...)
	first := true
	for len(block) > 0 || first {
		n := min(len(block), 16<<10)
		chunk := block[:n]
		block = block[n:]
		typ, flags := byte(frameContinuation), byte(0)
		if first {
			typ = frameHeaders
			if endStream {
				flags |= flagEndStream
			}
		}
		if len(block) == 0 {
			flags |= flagEndHeaders
		}
		if err := c.write(typ, flags, stream, chunk); err != nil {
			c.t.Fatalf("sending stream %d's headers: %v", stream, err)
		}
		first = false
	}
}

// hpackLiterals encodes name, value pairs as HPACK literals without
// indexing, no Huffman coding (RFC 7541 §6.2.2).
func hpackLiterals(fields ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(fields); i += 2 {
		b = append(b, 0x00)
		b = hpackString(b, fields[i])
		b = hpackString(b, fields[i+1])
	}
	return b
}

func hpackString(b []byte, s string) []byte {
	// The length as an integer with a 7-bit prefix (RFC 7541 §5.1).
	n := len(s)
	if n < 127 {
		b = append(b, byte(n))
	} else {
		b = append(b, 127)
		for n -= 127; n >= 128; n >>= 7 {
			b = append(b, byte(n%128+128))
		}
		b = append(b, byte(n))
	}
	return append(b, s...)
}

// streamEnd is how a stream ended: the first byte of its header block
// (0x88 is HPACK's indexed :status 200) and its body, or the RST_STREAM
// code.
type streamEnd struct {
	status0 byte
	body    string
	reset   bool
	code    uint32
}

// collect reads frames until want streams have ended (an END_STREAM or
// a RST_STREAM) or the deadline passes.
func (c *h2Client) collect(want int, within time.Duration) (map[uint32]*streamEnd, error) {
	c.conn.SetReadDeadline(time.Now().Add(within))
	defer c.conn.SetReadDeadline(time.Time{})
	ends := map[uint32]*streamEnd{}
	end := func(id uint32) *streamEnd {
		if ends[id] == nil {
			ends[id] = &streamEnd{}
		}
		return ends[id]
	}
	done := 0
	for done < want {
		f, err := c.read()
		if err != nil {
			return ends, err
		}
		switch f.typ {
		case frameHeaders:
			if len(f.payload) > 0 {
				end(f.stream).status0 = f.payload[0]
			}
		case frameData:
			end(f.stream).body += string(f.payload)
		case frameRSTStream:
			e := end(f.stream)
			e.reset, e.code = true, binary.BigEndian.Uint32(f.payload)
			done++
			continue
		case frameGoAway:
			return ends, fmt.Errorf("GOAWAY, code %d %q", binary.BigEndian.Uint32(f.payload[4:]), f.payload[8:])
		}
		if (f.typ == frameHeaders || f.typ == frameData) && f.flags&flagEndStream != 0 {
			done++
		}
	}
	return ends, nil
}

// A header block over MaxHeaderBytes (as HTTP/2 counts it: each field's
// name and value and 32 bytes) never reaches the handler, and the client
// loses the connection: net/http's HTTP/2 server stops reading a header
// block as soon as it is over the limit and ends the connection (GOAWAY
// with PROTOCOL_ERROR; a single field longer than the limit, with
// COMPRESSION_ERROR), answering 431 only when the last frame of a block
// is the one that crosses it (as a small block that decodes to much more
// does). A block within the limit is served.
func TestHTTP2HeaderLimit(t *testing.T) {
	var served atomic.Int32
	addr, ca, _ := serveTLSForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
	}), 10, nil)
	c := dialH2(t, addr, ca)
	settings := c.settled()
	const maxHeaderListSize = 0x6
	limit := MaxHeaderBytes + 10*32
	if got := settings[maxHeaderListSize]; got != uint32(limit) {
		t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE: got %d, want %d (MaxHeaderBytes and 32 bytes for each of 10 fields)", got, limit)
	}

	// fields returns about size bytes of header fields (as HTTP/2 counts
	// them) besides the pseudo-headers, in fields of about 1 KiB.
	fields := func(size int) []string {
		var f []string
		for i := 0; size > 0; i++ {
			name := fmt.Sprintf("x-field-%04d", i)
			n := min(1024, max(1, size-len(name)-32))
			f = append(f, name, strings.Repeat("a", n))
			size -= len(name) + n + 32
		}
		return f
	}
	pseudo := len(":method") + len("GET") + len(":scheme") + len("https") + len(":authority") + len("localhost") + len(":path") + len("/") + 4*32
	c.request(1, "GET", "/", true, fields(limit-pseudo-100)...)
	if ends, err := c.collect(1, 10*time.Second); err != nil || ends[1] == nil || ends[1].status0 != 0x88 {
		t.Fatalf("a block 100 bytes within the limit: got %v (%v), want a 200", ends[1], err)
	}
	// A small block that decodes to more than the limit: one field put in
	// the HPACK table, then referred to by its index (one byte) again and
	// again. The decoded size counts: 431, and the connection goes on.
	bomb := hpackLiterals(":method", "GET", ":scheme", "https", ":authority", "localhost", ":path", "/")
	bomb = append(bomb, 0x40) // a literal with incremental indexing, new name
	bomb = hpackString(hpackString(bomb, "x-bomb"), strings.Repeat("a", 1000))
	for range limit/1000 + 10 {
		bomb = append(bomb, 0x80|62) // the newest entry of the dynamic table
	}
	c.write(frameHeaders, flagEndHeaders|flagEndStream, 3, bomb)
	if ends, err := c.collect(1, 10*time.Second); err != nil || ends[3] == nil || ends[3].reset || !strings.Contains(ends[3].body, "431") {
		t.Fatalf("a %d-byte block decoding to more than the limit: got %v (%v), want a 431", len(bomb), ends[3], err)
	}

	c.request(5, "GET", "/", true, fields(limit-pseudo+40<<10)...)
	if code := goAway(t, c); code != errCodeProtocol {
		t.Errorf("a block 40 KiB over the limit: GOAWAY code %d, want PROTOCOL_ERROR (%d)", code, errCodeProtocol)
	}

	c = dialH2(t, addr, ca)
	c.settled()
	c.request(1, "GET", "/", true, "x-long", strings.Repeat("a", MaxHeaderBytes+1024))
	if code := goAway(t, c); code != errCodeCompression {
		t.Errorf("one field over the limit: GOAWAY code %d, want COMPRESSION_ERROR (%d)", code, errCodeCompression)
	}
	if n := served.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want once (the block within the limit)", n)
	}
}

// goAway reads until the server's GOAWAY and returns its error code.
func goAway(t *testing.T, c *h2Client) uint32 {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := c.read()
		if err != nil {
			t.Fatalf("%v before a GOAWAY", err)
		}
		if f.typ == frameGoAway {
			return binary.BigEndian.Uint32(f.payload[4:])
		}
		if f.typ == frameHeaders || f.typ == frameData {
			t.Fatalf("an answer (frame type %d on stream %d) rather than a GOAWAY", f.typ, f.stream)
		}
	}
}

// A client that opens more streams than MaxConcurrentStreams has the
// extra ones refused; the handler never runs more than that many at once.
func TestHTTP2ConcurrentStreams(t *testing.T) {
	release := make(chan struct{})
	var running, most atomic.Int32
	addr, ca, _ := serveTLSForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		running.Add(-1)
	}), 1000, nil)
	c := dialH2(t, addr, ca)
	settings := c.settled()
	const maxConcurrentStreams = 0x3
	if got := settings[maxConcurrentStreams]; got != MaxConcurrentStreams {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS: got %d, want %d", got, MaxConcurrentStreams)
	}

	const extra = 10
	for i := range MaxConcurrentStreams + extra {
		c.request(uint32(2*i+1), "GET", "/", true)
	}
	// The extra streams are refused at once, the others wait.
	refused, err := c.collect(extra, 10*time.Second)
	if err != nil {
		t.Fatalf("reading the refusals: %v (so far %d streams ended)", err, len(refused))
	}
	for id, e := range refused {
		if !e.reset || (e.code != errCodeRefusedStream && e.code != errCodeProtocol) || id < 2*MaxConcurrentStreams {
			t.Errorf("stream %d: got %+v, want one of the last %d reset with REFUSED_STREAM or PROTOCOL_ERROR", id, e, extra)
		}
	}
	waitUntil(t, "every allowed stream's handler runs", func() bool { return running.Load() == MaxConcurrentStreams })
	close(release)
	answered, err := c.collect(MaxConcurrentStreams, 10*time.Second)
	if err != nil || len(answered) != MaxConcurrentStreams {
		t.Fatalf("after the release: %d streams answered (%v), want %d", len(answered), err, MaxConcurrentStreams)
	}
	if m := most.Load(); m != MaxConcurrentStreams {
		t.Errorf("at most %d handlers ran at once, want %d", m, MaxConcurrentStreams)
	}
}

// MaxHeaderFields holds over HTTP/2 too: a request with more fields gets
// 431 and never reaches the handler.
func TestHTTP2HeaderFields(t *testing.T) {
	var served atomic.Int32
	addr, ca, l := serveTLSForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
	}), 10, nil)
	c := dialH2(t, addr, ca)
	c.settled()
	fields := func(n int) []string {
		var f []string
		for i := range n {
			f = append(f, fmt.Sprintf("x-%d", i), "v")
		}
		return f
	}
	c.request(1, "GET", "/", true, fields(MaxHeaderFields)...)
	c.request(3, "GET", "/", true, fields(MaxHeaderFields+1)...)
	ends, err := c.collect(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e := ends[1]; e == nil || e.status0 != 0x88 {
		t.Errorf("%d fields: got %+v, want a 200", MaxHeaderFields, e)
	}
	if e := ends[3]; e == nil || !strings.Contains(e.body, "more than 100 header fields") {
		t.Errorf("%d fields: got %+v, want a 431", MaxHeaderFields+1, e)
	}
	if served.Load() != 1 || l.HeadRefused() != 1 {
		t.Errorf("served %d, refused %d; want 1 and 1", served.Load(), l.HeadRefused())
	}
}

// An HTTP/2 connection is bounded in time like an HTTP/1.1 one: idle (no
// stream open) after its preface or a request, it is closed at the idle
// timeout, and the connection cap counts it as idle meanwhile; a stream
// whose body stalls fails its read at the read timeout while the
// connection serves other streams. (Between the handshake and the
// preface net/http's HTTP/2 server allows 10 s, a fixed figure.)
func TestHTTP2Timeouts(t *testing.T) {
	oldHeader := headerTimeout
	headerTimeout = 500 * time.Millisecond
	t.Cleanup(func() { headerTimeout = oldHeader })
	const idle = 700 * time.Millisecond
	readErr := make(chan error, 1)
	addr, ca, l := serveTLSForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, err := io.ReadAll(r.Body)
			readErr <- err
		}
	}), 10, func(srv *http.Server, _ *Listener) { srv.IdleTimeout = idle })

	// closedWithin reads until the connection ends, and how long it took.
	closedWithin := func(c *h2Client) (time.Duration, error) {
		start := time.Now()
		c.conn.SetReadDeadline(start.Add(10 * time.Second))
		for {
			if _, err := c.read(); err != nil {
				if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset") {
					return time.Since(start), nil
				}
				return time.Since(start), err
			}
		}
	}

	t.Run("silent after the preface", func(t *testing.T) {
		c := dialH2(t, addr, ca)
		waitUntil(t, "the connection counts as idle", func() bool { return l.Idle() == 1 })
		took, err := closedWithin(c)
		// The idle timeout, then a GOAWAY and a second for streams the
		// client may have started.
		if err != nil || took < idle-100*time.Millisecond || took > idle+3*time.Second {
			t.Errorf("closed after %v (%v); want about the idle timeout, %v", took, err, idle)
		}
	})

	t.Run("idle after a request", func(t *testing.T) {
		c := dialH2(t, addr, ca)
		c.settled()
		c.request(1, "GET", "/", true)
		if ends, err := c.collect(1, 5*time.Second); err != nil || ends[1] == nil {
			t.Fatalf("the request: %v %v", ends, err)
		}
		took, err := closedWithin(c)
		if err != nil || took < idle-100*time.Millisecond || took > idle+3*time.Second {
			t.Errorf("closed after %v (%v); want about the idle timeout, %v", took, err, idle)
		}
	})

	t.Run("a stalled body", func(t *testing.T) {
		c := dialH2(t, addr, ca)
		c.settled()
		start := time.Now()
		c.request(1, "POST", "/", false, "content-type", "application/json")
		c.write(frameData, 0, 1, []byte(`{"text":`))
		// Meanwhile another stream on the same connection is served.
		c.request(3, "GET", "/", true)
		if ends, err := c.collect(1, 5*time.Second); err != nil || ends[3] == nil || ends[3].status0 != 0x88 {
			t.Errorf("another stream while one stalls: %v %v, want a 200", ends, err)
		}
		select {
		case err := <-readErr:
			if took := time.Since(start); err == nil || took < headerTimeout-100*time.Millisecond {
				t.Errorf("the stalled body's read ended after %v with %v; want a timeout after %v", took, err, headerTimeout)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the stalled body's read never ended")
		}
	})
}

// The connection cap is below TLS: connections that never finish their
// handshake count, those beyond the cap are closed at once (with no
// plain-text answer a TLS client could not read), and the handshake is
// bounded by the read timeout. At the cap an idle HTTP/2 connection is
// closed to make room, as an idle HTTP/1.1 one is.
func TestTLSHandshakesAreCapped(t *testing.T) {
	oldHeader := headerTimeout
	headerTimeout = 2 * time.Second
	t.Cleanup(func() { headerTimeout = oldHeader })
	addr, ca, l := serveTLSForTest(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), 2, nil)

	// Two connections that send nothing: no handshake ever starts.
	start := time.Now()
	var silent []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	waitUntil(t, "both are counted", func() bool { return l.Open() == 2 })

	// A third is closed at once, without a byte.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(headerTimeout / 2))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("beyond the cap: read %d bytes, %v; want the connection closed at once with nothing sent", n, err)
	}
	c.Close()
	if l.Refused() != 1 {
		t.Errorf("refused: got %d, want 1", l.Refused())
	}

	// The silent ones are closed at the handshake's timeout.
	for _, c := range silent {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if took := time.Since(start); n != 0 || err == nil || took < headerTimeout-100*time.Millisecond || took > headerTimeout+3*time.Second {
			t.Errorf("a silent connection: read %d bytes, %v, after %v; want it closed after %v", n, err, took, headerTimeout)
		}
	}
	waitUntil(t, "their places are free", func() bool { return l.Open() == 0 })

	// At the cap, with two idle HTTP/2 connections, a new one takes the
	// place of the longest idle.
	idle1, idle2 := dialH2(t, addr, ca), dialH2(t, addr, ca)
	for _, c := range []*h2Client{idle1, idle2} {
		c.settled()
		c.request(1, "GET", "/", true)
		if ends, err := c.collect(1, 5*time.Second); err != nil || ends[1] == nil {
			t.Fatalf("a request: %v %v", ends, err)
		}
	}
	waitUntil(t, "both are idle", func() bool { return l.Idle() == 2 })
	fresh := dialH2(t, addr, ca)
	fresh.settled()
	fresh.request(1, "GET", "/", true)
	if ends, err := fresh.collect(1, 5*time.Second); err != nil || ends[1] == nil || ends[1].status0 != 0x88 {
		t.Fatalf("a new connection at the cap: %v %v, want a 200", ends, err)
	}
	idle1.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := idle1.read(); err != nil {
			if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
				t.Errorf("the longest-idle connection: %v, want it closed", err)
			}
			break
		}
	}
	if l.Reaped() != 1 {
		t.Errorf("reaped: got %d, want 1", l.Reaped())
	}
}

// One client's share of the cap holds over TLS too: its connections
// beyond the share are closed at once, before any handshake (no
// plain-text 429 a TLS client could not read), and counted as the
// client's refusals, while another client still gets a handshake and an
// answer.
func TestTLSConnectionShareOfOneClient(t *testing.T) {
	addr, ca, l := serveTLSForTest(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), 10,
		func(_ *http.Server, l *Listener) { l.LimitPerClient(2, nil) })
	from := func(ip string) net.Dialer {
		return net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	}

	d := from("127.0.0.7")
	for range 2 { // silent: counted from the accept, handshake or not
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitUntil(t, "the client's connections are counted", func() bool { return l.Open() == 2 })

	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("past the share: read %d bytes, %v; want the connection closed at once with nothing sent", n, err)
	}
	if l.ClientRefused() != 1 || l.Refused() != 0 {
		t.Errorf("refused for the share %d, at the cap %d; want 1, 0", l.ClientRefused(), l.Refused())
	}

	other := from("127.0.0.8")
	tr := &http.Transport{DialContext: other.DialContext, TLSClientConfig: ca.ClientConfig("localhost"), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("another client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Errorf("another client: got %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
}

// waitUntil waits until cond holds, or fails after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// MaxHeaderFields holds for HTTP/1.1 over TLS, whose heads are counted
// above TLS (tlsHTTP1Conn), and the 431 is readable by the TLS client.
func TestTLSHTTP1HeaderFields(t *testing.T) {
	addr, ca, l := serveTLSForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("Request.TLS is nil over TLS")
		}
	}), 10, nil)
	for _, c := range []struct {
		fields int
		want   string
	}{{MaxHeaderFields, "HTTP/1.1 200 OK\r\n"}, {MaxHeaderFields + 1, "HTTP/1.1 431 Request Header Fields Too Large\r\n"}} {
		conn, err := tls.Dial("tcp", addr, ca.ClientConfig("localhost", "http/1.1"))
		if err != nil {
			t.Fatal(err)
		}
		// Host and Connection, and the rest.
		var head strings.Builder
		head.WriteString("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n")
		for i := range c.fields - 2 {
			fmt.Fprintf(&head, "X-%d: v\r\n", i)
		}
		head.WriteString("\r\n")
		io.WriteString(conn, head.String())
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		answer, _ := io.ReadAll(io.LimitReader(conn, 4096))
		conn.Close()
		if !strings.HasPrefix(string(answer), c.want) {
			t.Errorf("%d fields over TLS: got %.60q, want %q", c.fields, answer, c.want)
		}
	}
	if l.HeadRefused() != 1 {
		t.Errorf("refused: got %d, want 1", l.HeadRefused())
	}
}
