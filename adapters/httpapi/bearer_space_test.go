package httpapi_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Only spaces and tabs surround a header value (HTTP strips them). Other
// white space after the token is not RFC 6750 syntax: "Bearer <token>"
// followed by a no-break space (U+00A0) or U+0085, which net/http passes
// through, used to be trimmed and the token accepted. Found by
// FuzzBearerToken. Sent as raw bytes to a real server on loopback.
func TestBearerUnicodeSpaceIsNotTrimmed(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name, value string
		status      int
	}{
		{"trailing spaces and tabs (stripped by HTTP)", "Bearer " + tokReader + " \t ", http.StatusOK},
		{"a no-break space after the token", "Bearer " + tokReader + "\u00a0", http.StatusUnauthorized},
		{"U+0085 after the token", "Bearer " + tokReader + "\u0085", http.StatusUnauthorized},
		{"a no-break space before the scheme", "\u00a0Bearer " + tokReader, http.StatusUnauthorized},
		{"an ideographic space after the token", "Bearer " + tokReader + "\u3000", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("GET /api/private HTTP/1.1\r\nHost: api\r\nAuthorization: " + tc.value + "\r\nConnection: close\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusUnauthorized {
				want := `Bearer realm="api", error="invalid_token", error_description="malformed token"`
				if tc.value[0] != 'B' {
					want = `Bearer realm="api"` // no Bearer credentials at all
				}
				if got := challengeOf(t, resp.Header); got != want {
					t.Errorf("WWW-Authenticate: got %s, want %s", got, want)
				}
			}
		})
	}
}
