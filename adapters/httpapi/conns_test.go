package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/httpapi"
)

// limitedServer serves the full router on loopback with at most max
// connections.
func limitedServer(t *testing.T, max int) (addr string, l *httpapi.Listener) {
	t.Helper()
	return limitedServerWith(t, max, nil)
}

// limitedServerWith is limitedServer with configure applied to the
// listener before it serves.
func limitedServerWith(t *testing.T, max int, configure func(*httpapi.Listener)) (addr string, l *httpapi.Listener) {
	t.Helper()
	f := newFixture(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httpapi.NewServer("", f.handler, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l = httpapi.LimitConnections(srv, ln, max, log)
	if configure != nil {
		configure(l)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String(), l
}

// eventually waits until cond holds, or fails after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// rawGet sends one keep-alive GET on c and reads the answer.
func rawGet(c net.Conn, r *bufio.Reader, path string) (*http.Response, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: api\r\n\r\n", path); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	return dialFrom(t, "", addr)
}

// More idle keep-alive connections than the cap: each new client is
// served, in the place of the longest-idle connection.
func TestConnectionCapClosesIdleConnectionsForNewOnes(t *testing.T) {
	const max = 8
	addr, l := limitedServer(t, max)
	type client struct {
		c net.Conn
		r *bufio.Reader
	}
	var clients []client
	for i := range 3 * max {
		c := dial(t, addr)
		r := bufio.NewReader(c)
		resp, err := rawGet(c, r, "/api/public")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("client %d: got %v, %v; want 200", i, resp, err)
		}
		clients = append(clients, client{c, r})
		eventually(t, "the connection is idle", func() bool { return l.Idle() == min(i+1, max) })
		if open := l.Open(); open > max {
			t.Fatalf("client %d: %d connections open, want at most %d", i, open, max)
		}
	}
	if got, want := l.Reaped(), uint64(2*max); got != want {
		t.Errorf("reaped: got %d, want %d", got, want)
	}
	// The first 2*max were closed by the server; the last max still work.
	for i, cl := range clients {
		resp, err := rawGet(cl.c, cl.r, "/api/public")
		switch {
		case i < 2*max && err == nil:
			t.Errorf("client %d: reaped connection still answered %d", i, resp.StatusCode)
		case i >= 2*max && (err != nil || resp.StatusCode != 200):
			t.Errorf("client %d: got %v, %v; want 200 on a kept connection", i, resp, err)
		}
	}
	if l.Refused() != 0 {
		t.Errorf("refused: got %d, want 0", l.Refused())
	}
	// An ordinary client on a fresh connection is served.
	fresh := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	resp, err := fresh.Get("http://" + addr + "/api/public")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("new client: got %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
}

// At the cap with no idle connection (every one open but silent), a new
// client is told 503 at once, and served again once there is room.
func TestConnectionCapRefusesFastWhenNoneIsIdle(t *testing.T) {
	const max = 4
	addr, l := limitedServer(t, max)
	var silent []net.Conn
	for range max {
		silent = append(silent, dial(t, addr))
	}
	eventually(t, "every connection is counted", func() bool { return l.Open() == max })

	c := dial(t, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil) // the answer comes before any request
	if err != nil {
		t.Fatalf("no answer at the cap: %v", err)
	}
	var body struct{ Error string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || body.Error != "temporarily_unavailable" || resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Errorf("at the cap: got %d %q Retry-After %q close %v, want 503 temporarily_unavailable, Retry-After 1, Connection: close",
			resp.StatusCode, body.Error, resp.Header.Get("Retry-After"), resp.Close)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the 503: got %v, want the connection closed", err)
	}
	if l.Refused() != 1 || l.Open() != max {
		t.Errorf("refused %d open %d, want 1 and %d", l.Refused(), l.Open(), max)
	}

	for _, s := range silent {
		s.Close()
	}
	eventually(t, "closed connections free their places", func() bool { return l.Open() == 0 })
	c = dial(t, addr)
	if resp, err := rawGet(c, bufio.NewReader(c), "/api/public"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after room was made: got %v, %v; want 200", resp, err)
	}
}

// dialFrom dials addr from the loopback address from (all of 127.0.0.0/8
// is loopback on Linux), as a distinct client would; "" for any.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

// One client holds at most its share of the cap: its next connection is
// refused with a 429 at once, while another client and a trusted proxy
// still get in; a connection it closes gives the place back.
func TestConnectionShareOfOneClient(t *testing.T) {
	const max, share = 10, 3
	proxy := netip.MustParsePrefix("127.0.0.9/32")
	addr, l := limitedServerWith(t, max, func(l *httpapi.Listener) { l.LimitPerClient(share, []netip.Prefix{proxy}) })

	var mine []net.Conn
	for range share {
		mine = append(mine, dialFrom(t, "127.0.0.7", addr))
	}
	eventually(t, "the client's connections are counted", func() bool { return l.Open() == share })

	c := dialFrom(t, "127.0.0.7", addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil) // the answer comes before any request
	if err != nil {
		t.Fatalf("no answer past the share: %v", err)
	}
	var body struct{ Error string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 429 || body.Error != "too_many_requests" || resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Errorf("past the share: got %d %q Retry-After %q close %v, want 429 too_many_requests, Retry-After 1, Connection: close",
			resp.StatusCode, body.Error, resp.Header.Get("Retry-After"), resp.Close)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the 429: got %v, want the connection closed", err)
	}
	if l.ClientRefused() != 1 || l.Refused() != 0 || l.Open() != share {
		t.Errorf("refused for the share %d, at the cap %d, open %d; want 1, 0, %d", l.ClientRefused(), l.Refused(), l.Open(), share)
	}

	// Another client, and the trusted proxy past the share.
	other := dialFrom(t, "127.0.0.8", addr)
	if resp, err := rawGet(other, bufio.NewReader(other), "/api/public"); err != nil || resp.StatusCode != 200 {
		t.Errorf("another client: got %v, %v; want 200", resp, err)
	}
	for i := range share + 2 {
		p := dialFrom(t, "127.0.0.9", addr)
		if resp, err := rawGet(p, bufio.NewReader(p), "/api/public"); err != nil || resp.StatusCode != 200 {
			t.Errorf("trusted proxy, connection %d: got %v, %v; want 200", i+1, resp, err)
		}
	}

	// A closed connection gives its place back to its client.
	mine[0].Close()
	eventually(t, "the closed connection is released", func() bool { return l.Open() == share-1+1+share+2 })
	c = dialFrom(t, "127.0.0.7", addr)
	if resp, err := rawGet(c, bufio.NewReader(c), "/api/public"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after closing one: got %v, %v; want 200", resp, err)
	}
	if l.ClientRefused() != 1 {
		t.Errorf("refused for the share: %d, want still 1", l.ClientRefused())
	}
}
