package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/jwtverify"
)

// The header limit and the verifier's token limit agree: a request head of
// httpapi.MaxHeaderBytes carrying a token one byte over
// jwtverify.MaxTokenBytes (and 8 KiB of other headers: a browser's, and
// room for a DPoP proof) reaches the verifier and gets RFC 6750's
// invalid_token "token too large"; a token of MaxTokenBytes is parsed
// (and refused for what it says); only a head over the limit gets 431.
func TestHeaderLimits(t *testing.T) {
	base, _, _ := runDev(t, env(map[string]string{}),
		"-dev-dir", t.TempDir(), "-addr", "127.0.0.1:0", "-dev-issuer-addr", "127.0.0.1:0", "-metrics-addr", "off")
	addr := strings.TrimPrefix(base, "http://")
	if jwtverify.MaxTokenBytes+8<<10 > httpapi.MaxHeaderBytes {
		t.Fatalf("MaxHeaderBytes %d leaves less than 8 KiB beside the largest token (%d)", httpapi.MaxHeaderBytes, jwtverify.MaxTokenBytes)
	}

	// head is a browser's request with token, its other headers padded so
	// the head is size bytes long.
	head := func(token string, size int) string {
		h := "GET /api/private HTTP/1.1\r\nHost: " + addr + "\r\n" +
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
			"Accept: application/json\r\nOrigin: http://localhost:5173\r\nReferer: http://localhost:5173/\r\n" +
			"Accept-Language: en-GB,en;q=0.9\r\nAuthorization: Bearer " + token + "\r\n"
		pad := size - len(h) - len("X-Pad: \r\n\r\n")
		return h + "X-Pad: " + strings.Repeat("p", pad) + "\r\n\r\n"
	}
	send := func(raw string) (*http.Response, string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, raw)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	// A b64token of n characters, shaped as a JWT.
	token := func(n int) string {
		return "eyJhbGciOiJSUzI1NiJ9." + strings.Repeat("a", n-len("eyJhbGciOiJSUzI1NiJ9.")-4) + ".sig"
	}

	resp, body := send(head(token(jwtverify.MaxTokenBytes+1), httpapi.MaxHeaderBytes))
	// The development issuer's audience, http://localhost:8080/api, is
	// the resource identifier: its metadata is at the path it gives.
	want := `Bearer realm="api", error="invalid_token", error_description="token too large", resource_metadata="` + base + `/.well-known/oauth-protected-resource/api"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("a token one byte too large, in a head of MaxHeaderBytes: got %d %q %s, want 401 with %s",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, want)
	}
	resp, body = send(head(token(jwtverify.MaxTokenBytes), httpapi.MaxHeaderBytes))
	if resp.StatusCode != 401 || strings.Contains(body, "too large") || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("a token of MaxTokenBytes: got %d %q %s, want 401 invalid_token for its contents, not its size",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	resp, body = send(head("abc", httpapi.MaxHeaderBytes+4<<10+1))
	if resp.StatusCode != 431 {
		t.Errorf("a head over the limit: got %d %s, want 431", resp.StatusCode, body)
	}
}
