package main

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
)

// The binary's graceful stop behind a load balancer: on SIGTERM /readyz
// answers 503 for SHUTDOWN_DELAY while other requests are served, then
// the listener closes, a request in flight finishes, and the process
// exits 0.
func TestShutdownDelay(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	const delay = 1500 * time.Millisecond
	cmd, logs := startBinary(t, "ISSUER_BASE_URL="+iss.URL, "AUDIENCE="+jwtverifytest.Audience, "ADDR=127.0.0.1:0",
		"SHUTDOWN_DELAY=1500ms", "SHUTDOWN_TIMEOUT=5s")
	base := logs.baseURL(t)
	addr := strings.TrimPrefix(base, "http://")
	waitStatus(t, base+"/readyz", 200)
	tok := iss.Token(iss.Claims("auth0|alice", "write:messages", "read:messages"))

	// A post in flight: its headers now, its body after the listener has
	// closed.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	body := `{"text":"sent across the shutdown"}`
	if _, err := io.WriteString(slow, "POST /api/messages HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer "+tok+
		"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body[:10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server has the headers: the request is in flight

	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, `"msg":"shutting down"`)
	// During the delay: /readyz 503, everything else served, each answer
	// closing its connection.
	var sawReadyz, sawPublic bool
	for time.Since(signalled) < delay-300*time.Millisecond {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("/readyz during the delay: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || !strings.Contains(string(b), `"error_description":"shutting down"`) || !resp.Close {
			t.Errorf("/readyz during the delay: got %d %s (Connection: close %v), want 503 shutting down, closing", resp.StatusCode, b, resp.Close)
		}
		sawReadyz = true
		if resp, body := call(t, base+"/api/public", ""); resp.StatusCode != 200 || !resp.Close {
			t.Errorf("/api/public during the delay: got %d %s (Connection: close %v), want 200, closing", resp.StatusCode, body, resp.Close)
		}
		sawPublic = true
		time.Sleep(100 * time.Millisecond)
	}
	if !sawReadyz || !sawPublic {
		t.Fatal("nothing asked during the delay")
	}

	// After it: no new connections; the request in flight finishes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener is still open 5 s after the delay")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(signalled); took < delay {
		t.Errorf("the listener closed %v after SIGTERM, before SHUTDOWN_DELAY (%v)", took, delay)
	}
	if _, err := io.WriteString(slow, body[10:]); err != nil {
		t.Fatal(err)
	}
	slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer, err := io.ReadAll(slow)
	if !strings.HasPrefix(string(answer), "HTTP/1.1 201 Created\r\n") || !strings.Contains(string(answer), "Connection: close") {
		t.Errorf("the request in flight: got %q (%v), want 201 and the connection closed", answer, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v, want status 0", err)
	}
	logs.waitFor(t, "closing the listener: SHUTDOWN_DELAY has passed")
}
