// Package redistest gives tests a real Redis: the shared one that
// TEST_REDIS_URL names, or a throwaway redis-server of their own for tests
// that stop and restart it. Without them the tests skip and say once how
// to run them (servicetest) — except under CI=true, where a missing Redis
// is a failure.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/example/spaapi/adapters/servicetest"
)

// How reports how to run the Redis tests.
const How = "the Redis tests need a real redis-server: run .ci/run, or start one " +
	"(apt-get install redis-server; redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no) " +
	"and set TEST_REDIS_URL=redis://127.0.0.1:6390/0"

// URL returns TEST_REDIS_URL, skipping t without it (failing it under
// CI=true).
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		missing(t, "TEST_REDIS_URL is not set")
	}
	return u
}

// UpFor waits (at most min and a few seconds) until the server at url
// has been up at least min. The replay cache reads a server's start from
// INFO's uptime_in_seconds and refuses keys that could have been used
// before it, so tests with keys valid from min ago need a server up that
// long (a freshly started TEST_REDIS_URL is not).
func UpFor(t testing.TB, url string, min time.Duration) {
	t.Helper()
	if err := waitUptime(url, min); err != nil {
		t.Fatalf("waiting for %s to be up %s: %v", url, min, err)
	}
}

// waitUptime waits until the server at url reports an uptime of at least
// min (for at most min and 5 s).
func waitUptime(url string, min time.Duration) error {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return err
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	deadline := time.Now().Add(min + 5*time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.Info(ctx, "server").Result()
		cancel()
		if err != nil {
			return err
		}
		secs := int64(-1)
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "uptime_in_seconds:"); ok {
				secs, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if secs < 0 {
			return errors.New("INFO server has no uptime_in_seconds")
		}
		if time.Duration(secs)*time.Second >= min {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server's uptime stays at %d s", secs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func missing(t testing.TB, what string) {
	t.Helper()
	servicetest.Skip(t, "Redis", what, How)
}

// Server is a throwaway redis-server on a loopback port, without
// persistence, killed when the test ends.
type Server struct {
	t    testing.TB
	bin  string
	port string
	args []string
	cmd  *exec.Cmd
}

// Start starts a redis-server (from PATH) on a free port, with args added
// to its command line (e.g. "--maxmemory", "2mb"), and waits until it
// answers PING.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server is not on PATH")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	s := &Server{t: t, bin: bin, port: port, args: args}
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// URL is the server's redis:// URL (database 0).
func (s *Server) URL() string { return "redis://127.0.0.1:" + s.port + "/0" }

// Stop kills the server, if it runs.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port (after Stop), with no
// data, and waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	args := append([]string{"--port", s.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--logfile", "", "--dir", s.t.TempDir()}, s.args...)
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !s.answers() {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %s does not answer PING", s.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether the server answers PING with PONG.
func (s *Server) answers() bool {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+s.port, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	_, err = io.ReadFull(conn, buf)
	return err == nil && string(buf) == "+PONG\r\n"
}
