package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
)

// stallingWriter passes writes to a logBuffer until stall is called;
// from then on every Write blocks until release is called, as a write to a
// pipe nobody reads does.
type stallingWriter struct {
	logBuffer
	stalled  atomic.Bool
	released chan struct{}
	once     sync.Once
}

func newStallingWriter() *stallingWriter { return &stallingWriter{released: make(chan struct{})} }

func (s *stallingWriter) Write(p []byte) (int, error) {
	if s.stalled.Load() {
		<-s.released
	}
	return s.logBuffer.Write(p)
}

func (s *stallingWriter) stall()   { s.stalled.Store(true) }
func (s *stallingWriter) release() { s.once.Do(func() { close(s.released) }) }

func TestLogWriterDropsRatherThanBlocks(t *testing.T) {
	out := newStallingWriter()
	out.stall()
	defer out.release()
	const max, n = 10_000, 1_000
	l := newLogWriter(out, max)
	line := []byte(strings.Repeat("x", 99) + "\n")
	wrote := make(chan struct{})
	go func() {
		for range n {
			l.Write(line)
		}
		close(wrote)
	}()
	select {
	case <-wrote:
	case <-time.After(20 * time.Second):
		t.Fatal("Write blocked on a stalled destination")
	}
	dropped := int(l.Dropped())
	if dropped == 0 || dropped > n-max/len(line) {
		t.Errorf("dropped %d of %d lines with room for %d, want the rest dropped", dropped, n, max/len(line))
	}
	out.release()
	l.Close()
	written := strings.Count(out.String(), "\n")
	if written+dropped != n {
		t.Errorf("written %d + dropped %d, want %d", written, dropped, n)
	}
	if strings.Count(out.String(), string(line)) != written {
		t.Errorf("a line was cut")
	}
}

func TestLogWriterWritesWithoutClose(t *testing.T) {
	out := &logBuffer{}
	l := newLogWriter(out, 1<<20)
	defer l.Close()
	l.Write([]byte("one line\n"))
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != "one line\n" {
		if time.Now().After(deadline) {
			t.Fatalf("the line was never written; got %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A full batch is written at once, and whole.
	big := bytes.Repeat([]byte(strings.Repeat("y", 127)+"\n"), logFlushSize/128+1)
	for i := 0; i < len(big); i += 128 {
		l.Write(big[i : i+128])
	}
	l.Close()
	if got := out.String(); got != "one line\n"+string(big) {
		t.Errorf("got %d bytes, want %d", len(got), len("one line\n")+len(big))
	}
	l.Write([]byte("after close\n"))
	if !strings.HasSuffix(out.String(), "after close\n") {
		t.Errorf("a line written after Close was not written through")
	}
}

// startRun runs the API with an issuer on loopback, logging to stderr,
// and returns its address and the /metrics address. The test ends it with
// cancel and waits on done.
func startRun(t *testing.T, stderr io.Writer, logs *logBuffer) (base, metrics string, cancel func(), done chan error) {
	t.Helper()
	iss := jwtverifytest.NewIssuer(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done = make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{
			"ISSUER_BASE_URL": iss.URL, "AUDIENCE": jwtverifytest.Audience, "ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0",
			"DATABASE_URL": "memory:",
		}), io.Discard, stderr)
	}()
	base = logs.baseURL(t)
	metrics = "http://" + logs.waitFor(t, `"msg":"metrics listening"`)["addr"].(string) + "/metrics"
	waitStatus(t, base+"/readyz", 200)
	return base, metrics, cancel, done
}

// get sends GET url with the request ID id and returns the status.
func get(t *testing.T, c *http.Client, url, id string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Request-Id", id)
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// requestIDs returns how often each request ID appears in the request log
// lines of out.
func requestIDs(t *testing.T, out string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "request" {
			id, _ := m["request_id"].(string)
			ids[id]++
		}
	}
	return ids
}

// Graceful shutdown, through run's own path (the signal's context ends),
// writes out every buffered line: the last requests were answered just
// before, well within the flush interval.
func TestShutdownWritesEveryLogLine(t *testing.T) {
	logs := &logBuffer{}
	base, _, cancel, done := startRun(t, logs, logs)
	const n = 500
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}}
			for i := w; i < n; i += 4 {
				if got := get(t, c, base+"/api/public", "shutdown-"+strconv.Itoa(i)); got != 200 {
					t.Errorf("request %d: got %d", i, got)
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	ids := requestIDs(t, logs.String())
	for i := range n {
		if id := "shutdown-" + strconv.Itoa(i); ids[id] != 1 {
			t.Errorf("request %s: %d log lines, want 1", id, ids[id])
		}
	}
}

// A stderr that takes nothing (a stalled pipe) never makes requests wait:
// lines beyond the buffer are dropped and counted in
// log_lines_dropped_total, and every other line is written once stderr
// moves again.
func TestStalledStderrDoesNotStallRequests(t *testing.T) {
	defer func(max int) { logBufferMax = max }(logBufferMax)
	logBufferMax = 64 << 10
	stderr := newStallingWriter()
	defer stderr.release()
	base, metrics, cancel, done := startRun(t, stderr, &stderr.logBuffer)
	stderr.stall()
	// Enough lines (about 170 bytes each) to overflow the buffer.
	n := 3_000
	var wg sync.WaitGroup
	var answered atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
			for i := w; i < n; i += 8 {
				if get(t, c, base+"/api/public", "stalled-"+strconv.Itoa(i)) == 200 {
					answered.Add(1)
				}
				if t.Failed() {
					return
				}
			}
		}()
	}
	wg.Wait()
	if answered.Load() != int64(n) {
		t.Fatalf("%d of %d requests answered while stderr was stalled", answered.Load(), n)
	}
	resp, err := http.Get(metrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var dropped int
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "log_lines_dropped_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			dropped = int(f)
		}
	}
	if dropped == 0 {
		t.Fatalf("log_lines_dropped_total: got 0 after %d requests with stderr stalled", n)
	}
	stderr.release()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	ids := requestIDs(t, stderr.String())
	written := 0
	for i := range n {
		switch c := ids["stalled-"+strconv.Itoa(i)]; c {
		case 0:
		case 1:
			written++
		default:
			t.Errorf("request %d: %d log lines", i, c)
		}
	}
	if written+dropped != n {
		t.Errorf("lines written %d + dropped %d, want %d", written, dropped, n)
	}
}
