package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// One read deadline covers a request's headers and body, except that
// decode gives a JSON body bodyTimeout. Shortened here; the server is
// NewServer's, on loopback.
func TestReadTimeouts(t *testing.T) {
	oldHeader, oldBody := headerTimeout, bodyTimeout
	headerTimeout, bodyTimeout = 300*time.Millisecond, 5*time.Second
	t.Cleanup(func() { headerTimeout, bodyTimeout = oldHeader, oldBody })

	mux := http.NewServeMux()
	mux.HandleFunc("POST /decode", func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			Text string `json:"text"`
		}
		if err := decode(w, r, &v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, v.Text)
	})
	mux.HandleFunc("POST /raw", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, "read")
	})
	// Through the request log's writer, as in the router: decode reaches
	// the connection by Unwrap.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := NewServer("", logRequests(log, testMetrics(t), nil)(mux), log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	// slowBody sends a POST's headers, waits twice the header timeout,
	// then its body, and returns the answer's status and body ("" and the
	// error if the server closed the connection).
	slowBody := func(path string) (int, string, error) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		body := `{"text":"late"}`
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, len(body))
		time.Sleep(2 * headerTimeout)
		if _, err := io.WriteString(c, body); err != nil {
			return 0, "", err
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), nil
	}

	if status, body, err := slowBody("/decode"); err != nil || status != http.StatusOK || body != "late" {
		t.Errorf("a JSON body after the header timeout: got %d %q (%v), want 200 \"late\"", status, body, err)
	}
	// Elsewhere the header timeout also bounds the body.
	if status, body, err := slowBody("/raw"); err != nil || status != http.StatusBadRequest || !strings.Contains(body, "timeout") {
		t.Errorf("a raw body after the header timeout: got %d %q (%v), want 400 with a read timeout", status, body, err)
	}

	// Headers that never end: the connection is closed once the header
	// timeout passes, with no answer. The clock starts before the dial:
	// the server's deadline can start before Dial returns here.
	start := time.Now()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /raw HTTP/1.1\r\nHost: api\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if took := time.Since(start); n != 0 || err == nil || took < headerTimeout || took > 5*time.Second {
		t.Errorf("unfinished headers: read %d bytes, %v after %v; want the connection closed after %v", n, err, took, headerTimeout)
	}
}
