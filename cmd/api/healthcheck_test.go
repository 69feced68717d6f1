package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
)

func TestHealthcheckURL(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://127.0.0.1:8080/readyz"},
		{map[string]string{"PORT": "9000"}, "http://127.0.0.1:9000/readyz"},
		{map[string]string{"ADDR": ":8081"}, "http://127.0.0.1:8081/readyz"},
		{map[string]string{"ADDR": "0.0.0.0:8082"}, "http://127.0.0.1:8082/readyz"},
		{map[string]string{"ADDR": "[::]:8083"}, "http://[::1]:8083/readyz"},
		{map[string]string{"ADDR": "10.1.2.3:8084", "PORT": "9000"}, "http://10.1.2.3:8084/readyz"},
		{map[string]string{"ADDR": "[::1]:8085"}, "http://[::1]:8085/readyz"},
	}
	for _, tt := range tests {
		got, err := readyzURL(env(tt.env))
		if err != nil || got != tt.want {
			t.Errorf("%v: got %q, %v, want %q", tt.env, got, err, tt.want)
		}
	}
	for _, bad := range []map[string]string{{"ADDR": "8080"}, {"PORT": "http"}} {
		_, err := readyzURL(env(bad))
		for name := range bad {
			if err == nil || !strings.HasPrefix(err.Error(), name+": ") {
				t.Errorf("%v: got %v, want an error naming %s", bad, err, name)
			}
		}
	}
}

// healthcheck runs the built binary's healthcheck with exactly env and
// args; it returns the exit code, stdout and stderr.
func healthcheck(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"healthcheck"}, args...)...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("running healthcheck: %v", err)
	return 0, "", ""
}

// The healthcheck against a real server on loopback: 503 while the signing
// keys are missing, 200 once they are there, and a server that is gone,
// each found from PORT, ADDR or -url as an operator would give them.
func TestHealthcheckAgainstTheBinary(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	iss.SetDown(true)
	cmd, logs := startBinary(t, "ISSUER_BASE_URL="+iss.URL, "AUDIENCE="+jwtverifytest.Audience, "ADDR=127.0.0.1:0")
	addr := logs.addr(t, `"msg":"listening"`)
	_, port, _ := net.SplitHostPort(addr)
	readyz := "http://" + addr + "/readyz"

	code, stdout, stderr := healthcheck(t, []string{"PORT=" + port})
	if want := "api: healthcheck: " + readyz + ": 503 Service Unavailable: not available: the token signing keys; retry shortly\n"; code != 1 || stderr != want || stdout != "" {
		t.Errorf("not ready: got exit %d, stdout %q, stderr %q, want exit 1 and stderr %q", code, stdout, stderr, want)
	}

	iss.SetDown(false)
	waitStatus(t, readyz, 200)
	for _, how := range [][]string{{"PORT=" + port}, {"ADDR=:" + port}, {"ADDR=" + addr, "PORT=1"}} {
		code, stdout, stderr := healthcheck(t, how)
		if code != 0 || stdout != readyz+": ready\n" || stderr != "" {
			t.Errorf("ready, %v: got exit %d, stdout %q, stderr %q, want exit 0 and %q", how, code, stdout, stderr, readyz+": ready\n")
		}
	}
	code, stdout, _ = healthcheck(t, []string{"PORT=1"}, "-url", readyz)
	if code != 0 || stdout != readyz+": ready\n" {
		t.Errorf("ready, -url: got exit %d, stdout %q, want exit 0", code, stdout)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	code, stdout, stderr = healthcheck(t, []string{"PORT=" + port})
	if prefix := "api: healthcheck: " + readyz + ": dial tcp " + addr + ": connect: connection refused"; code != 1 || stdout != "" ||
		!strings.HasPrefix(stderr, prefix) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("down: got exit %d, stdout %q, stderr %q, want exit 1 and one line starting %q", code, stdout, stderr, prefix)
	}
}

// A server that takes the connection but never answers fails the check
// within -timeout rather than hanging the container runtime's probe.
func TestHealthcheckTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, unanswered, until the test ends
		}
	}()
	u := "http://" + ln.Addr().String() + "/readyz"
	err = runHealthcheck([]string{"-url", u, "-timeout", "200ms"}, env(nil), io.Discard, io.Discard)
	if want := "healthcheck: " + u + ": no answer within 200ms"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// Only a 200 is healthy: a redirect is not followed, and an answer that is
// not the API's says its status.
func TestHealthcheckWantsExactly200(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   string
	}{
		{http.StatusFound, "302 Found"},
		{http.StatusNoContent, "204 No Content"},
		{http.StatusInternalServerError, "500 Internal Server Error"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.status == http.StatusFound {
				w.Header().Set("Location", "/healthz")
			}
			w.WriteHeader(tt.status)
			io.WriteString(w, "<html>not the API</html>")
		}))
		err := runHealthcheck([]string{"-url", srv.URL + "/readyz"}, env(nil), io.Discard, io.Discard)
		if want := "healthcheck: " + srv.URL + "/readyz: " + tt.want; err == nil || err.Error() != want {
			t.Errorf("%d: got %v, want %q", tt.status, err, want)
		}
		srv.Close()
	}
}

func TestHealthcheckRefusesBadArguments(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-url", "ftp://127.0.0.1/readyz"}, `healthcheck: -url: "ftp://127.0.0.1/readyz" is not an http or https URL`},
		{[]string{"-url", "127.0.0.1:8080"}, `healthcheck: -url: "127.0.0.1:8080" is not an http or https URL`},
		{[]string{"-timeout", "0s"}, "healthcheck: -timeout: 0s is not a positive duration"},
		{[]string{"now"}, `healthcheck: unexpected argument "now" (see api healthcheck -h)`},
	} {
		err := runHealthcheck(tt.args, env(nil), io.Discard, io.Discard)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: got %v, want %q", tt.args, err, tt.want)
		}
	}
	if err := runHealthcheck(nil, env(map[string]string{"ADDR": "nohost"}), io.Discard, io.Discard); err == nil ||
		!strings.HasPrefix(err.Error(), "healthcheck: ADDR: ") {
		t.Errorf("bad ADDR: got %v, want an error naming ADDR", err)
	}
}
