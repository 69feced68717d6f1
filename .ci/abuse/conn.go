package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// conn is one keep-alive HTTP/1.1 connection from a chosen loopback
// address, read just enough to know each answer: cheaper than net/http's
// client, so that the load generator takes less of the cores it shares
// with the server.
type conn struct {
	c net.Conn
	r *bufio.Reader
}

// dial connects from the loopback address from (Linux routes all of
// 127.0.0.0/8 to lo) to addr.
func dial(from, addr string) (*conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReaderSize(c, 32<<10)}, nil
}

func (c *conn) close() { c.c.Close() }

// answer is what came back for one request.
type answer struct {
	status int
	// code is the "error" member of a JSON error body ("" for none).
	code string
	// body is kept for 2xx answers when asked, and for error answers up
	// to 4 KiB.
	body []byte
}

// key is how answers are counted: the status and, for errors, the code.
func (a answer) key() string {
	if a.code != "" {
		return strconv.Itoa(a.status) + " " + a.code
	}
	return strconv.Itoa(a.status)
}

// errClosing: the server said it closes the connection after this answer
// (Connection: close); the answer is good, the connection is not.
var errClosing = errors.New("the server closes the connection")

// do sends req and reads the answer, within 60 s. keepBody keeps a 2xx
// answer's body; otherwise it is read and dropped.
func (c *conn) do(req []byte, keepBody bool) (answer, error) {
	c.c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.c.Write(req); err != nil {
		return answer{}, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return answer{}, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return answer{}, fmt.Errorf("bad status line %q", line)
	}
	var a answer
	if a.status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return answer{}, err
	}
	length, chunked, closing := -1, false, false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return answer{}, err
		}
		if len(h) <= 2 {
			break
		}
		name, value, _ := strings.Cut(string(h), ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			length, _ = strconv.Atoi(value)
		case "transfer-encoding":
			chunked = strings.EqualFold(value, "chunked")
		case "connection":
			closing = strings.EqualFold(value, "close")
		}
	}
	keep := keepBody && a.status < 300 || a.status >= 400
	var body bytes.Buffer
	switch {
	case chunked:
		err = readChunked(c.r, &body)
	case length >= 0:
		if keep && length <= 1<<20 {
			_, err = io.CopyN(&body, c.r, int64(length))
		} else {
			_, err = c.r.Discard(length)
		}
	case a.status == 204 || a.status == 304 || a.status < 200:
	default: // until the server closes the connection
		_, err = io.Copy(&body, c.r)
		closing = true
	}
	if err != nil {
		return answer{}, err
	}
	if keep {
		a.body = body.Bytes()
	}
	if a.status >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(a.body, &e) == nil {
			a.code = e.Error
		}
		if len(a.body) > 4096 {
			a.body = a.body[:4096]
		}
	}
	if closing {
		return a, errClosing
	}
	return a, nil
}

// readChunked copies a chunked body to w.
func readChunked(r *bufio.Reader, w io.Writer) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			for { // trailers, then the empty line
				t, err := r.ReadString('\n')
				if err != nil || t == "\r\n" {
					return err
				}
			}
		}
		if _, err := io.CopyN(w, r, size); err != nil {
			return err
		}
		if _, err := r.Discard(2); err != nil {
			return err
		}
	}
}

// request formats an HTTP/1.1 request; headers are name, value pairs.
func request(method, path, host string, body []byte, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// crowdDialer opens connections from a loopback address with a small
// receive buffer, set before connecting so that the window the server
// sees stays small (a client that never reads holds little in the
// kernel).
func crowdDialer(from string) *net.Dialer {
	return &net.Dialer{
		Timeout:   5 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)},
		Control: func(_, _ string, c syscall.RawConn) error {
			var err error
			c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			return err
		},
	}
}
