// Command measure-edges measures how the API and the development issuer
// hold up against hostile clients: made-up HTTP methods (metrics series,
// memory, log volume), /authorize floods (pending logins, big state), and
// more connections than the process has file descriptors. Not part of CI;
// the figures are in docs/performance.md.
//
//	go run ./.ci/measure-edges                      # builds ./cmd/api, every phase
//	go run ./.ci/measure-edges -bin /tmp/old/api    # another build, for before/after
//	go run ./.ci/measure-edges -phases conns -conns 3000
//
// It listens on 127.0.0.1 ports 21000-21999 and keeps its files under
// /tmp/edges-measure-*.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	bin       = flag.String("bin", "", "API binary to measure (default: build ./cmd/api)")
	phases    = flag.String("phases", "methods,long,authorize,conns", "comma-separated phases to run")
	nMethods  = flag.Int("methods", 100_000, "requests with distinct made-up methods")
	nLong     = flag.Int("long", 2000, "requests with distinct 64 KiB methods")
	nBigState = flag.Int("bigstate", 3000, "/authorize requests with a 200 KB state")
	nLogins   = flag.Int("logins", 50_000, "/authorize requests with ordinary parameters")
	nConns    = flag.Int("conns", 3000, "keep-alive connections to open against a server limited to -nofile descriptors")
	nofile    = flag.Int("nofile", 2048, "open-file limit of the server in the conns phase")
)

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "edges-measure-")
	check(err)
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "api")
		out, err := exec.Command("go", "build", "-o", *bin, "./cmd/api").CombinedOutput()
		if err != nil {
			fail("go build: %v\n%s", err, out)
		}
	}
	for _, p := range strings.Split(*phases, ",") {
		switch p {
		case "methods":
			methods(tmp, *nMethods, func(i int) string { return fmt.Sprintf("M%07d", i) }, "made-up methods")
		case "long":
			long := strings.Repeat("X", 64<<10)
			methods(tmp, *nLong, func(i int) string { return long + strconv.Itoa(i) }, "64 KiB methods")
		case "authorize":
			authorize(tmp)
		case "conns":
			conns(tmp)
		default:
			fail("unknown phase %q", p)
		}
	}
}

// server is a running `api -dev` on fixed loopback ports.
type server struct {
	cmd                  *exec.Cmd
	api, issuer, metrics string
	log                  string
}

func start(tmp, name string, base int, nofile int, env ...string) *server {
	s := &server{
		api:     fmt.Sprintf("127.0.0.1:%d", base),
		issuer:  fmt.Sprintf("127.0.0.1:%d", base+1),
		metrics: fmt.Sprintf("127.0.0.1:%d", base+2),
		log:     filepath.Join(tmp, name+".log"),
	}
	for _, a := range []string{s.api, s.issuer, s.metrics} {
		if c, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
			c.Close()
			fail("%s is taken; stop what listens there", a)
		}
	}
	// The connection phases open thousands from this one address to
	// measure MAX_CONNS itself: no share per client.
	args := []string{"-dev", "-dev-dir", filepath.Join(tmp, name+"-dev"), "-addr", s.api, "-dev-issuer-addr", s.issuer, "-metrics-addr", s.metrics,
		"-max-conns-per-client", "off"}
	if nofile > 0 {
		s.cmd = exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile), *bin}, args...)...)
	} else {
		s.cmd = exec.Command(*bin, args...)
	}
	logf, err := os.Create(s.log)
	check(err)
	s.cmd.Stderr = logf
	s.cmd.Env = append(os.Environ(), env...)
	check(s.cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			b, _ := os.ReadFile(s.log)
			fail("server did not get ready:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

func (s *server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// rssMB is the server's resident memory.
func (s *server) rssMB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	check(err)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func (s *server) logBytes() int64 {
	fi, err := os.Stat(s.log)
	check(err)
	return fi.Size()
}

// scrape fetches /metrics: its size, how long it took, and its series.
func (s *server) scrape() (size int, took time.Duration, series int) {
	t := time.Now()
	resp, err := http.Get("http://" + s.metrics + "/metrics")
	check(err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	check(err)
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("http_request")) {
			series++
		}
	}
	return len(b), time.Since(t), series
}

// methods sends n requests to /api/public with made-up methods, over 8
// keep-alive connections.
func methods(tmp string, n int, method func(int) string, what string) {
	s := start(tmp, "methods", 21000, 0)
	defer s.stop()
	rss0, log0 := s.rssMB(), s.logBytes()
	size0, _, series0 := s.scrape()
	t := time.Now()
	statuses := parallel(8, n, func(c *rawConn, i int) int { return c.request(method(i), "/api/public", "") })
	elapsed := time.Since(t)
	time.Sleep(time.Second) // let the log flush
	size1, took, series1 := s.scrape()
	fmt.Printf("%d requests with %s to /api/public: %s in %.1f s\n", n, what, statuses, elapsed.Seconds())
	fmt.Printf("  RSS %.0f MB -> %.0f MB; /metrics %s -> %s (%d -> %d http_request* lines, scraped in %v); log +%s\n",
		rss0, s.rssMB(), human(size0), human(size1), series0, series1, took.Round(time.Millisecond), human(int(s.logBytes()-log0)))
}

// authorize floods the development issuer's /authorize.
func authorize(tmp string) {
	s := start(tmp, "authorize", 21100, 0)
	defer s.stop()
	params := func(state string) string {
		return "/authorize?" + url.Values{
			"client_id": {"dev-spa"}, "redirect_uri": {"http://localhost:5173"}, "response_type": {"code"},
			"scope": {"openid read:messages"}, "state": {state}, "nonce": {"n"},
			"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"},
		}.Encode()
	}
	host := "localhost:" + strings.Split(s.issuer, ":")[1]

	rss0 := s.rssMB()
	big := strings.Repeat("a", 200_000)
	t := time.Now()
	statuses := parallelAt(s.issuer, 4, *nBigState, func(c *rawConn, i int) int {
		return c.request("GET", params(big+strconv.Itoa(i)), host)
	})
	fmt.Printf("%d /authorize requests with a 200 KB state: %s in %.1f s; RSS %.0f MB -> %.0f MB\n",
		*nBigState, statuses, time.Since(t).Seconds(), rss0, s.rssMB())

	rss0 = s.rssMB()
	t = time.Now()
	var lastStart time.Time
	last := min(5000, *nLogins)
	statuses = parallelAt(s.issuer, 4, *nLogins, func(c *rawConn, i int) int {
		if i == *nLogins-last {
			lastStart = time.Now()
		}
		return c.request("GET", params(fmt.Sprintf("state-%d", i)), host)
	})
	total := time.Since(t)
	fmt.Printf("%d /authorize requests (login pages): %s in %.1f s; the last %d at %.0f req/s; RSS %.0f MB -> %.0f MB\n",
		*nLogins, statuses, total.Seconds(), last, float64(last)/time.Since(lastStart).Seconds(), rss0, s.rssMB())

	var took []time.Duration
	for range 50 {
		t := time.Now()
		resp, err := http.PostForm("http://"+s.issuer+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {"dev-machine"}, "client_secret": {"dev-machine-secret"}})
		check(err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took = append(took, time.Since(t))
	}
	slices.Sort(took)
	fmt.Printf("  then /oauth/token (client_credentials): median %v over 50\n", took[25].Round(100*time.Microsecond))
}

// conns opens more keep-alive connections than the server has file
// descriptors, then times a new client.
func conns(tmp string) {
	s := start(tmp, "conns", 21200, *nofile)
	defer s.stop()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}
	newClients := func() {
		for i := range 3 {
			t := time.Now()
			resp, err := client.Get("http://" + s.api + "/api/public")
			if err != nil {
				fmt.Printf("  new client %d: %v after %v\n", i+1, err, time.Since(t).Round(time.Millisecond))
				continue
			}
			resp.Body.Close()
			fmt.Printf("  new client %d: %d after %v\n", i+1, resp.StatusCode, time.Since(t).Round(100*time.Microsecond))
		}
	}
	var served, refused, other, failed atomic.Int64
	var open []net.Conn
	var mu sync.Mutex
	t := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for range *nConns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", s.api, 2*time.Second)
			if err != nil {
				failed.Add(1)
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			rc := &rawConn{c: c, r: bufio.NewReader(c)}
			c.SetDeadline(time.Now().Add(3 * time.Second))
			switch rc.request("GET", "/api/public", "") {
			case 200:
				served.Add(1)
			case 503:
				refused.Add(1)
			case 0:
				failed.Add(1)
			default:
				other.Add(1)
			}
			c.SetDeadline(time.Time{})
		}()
	}
	wg.Wait()
	fmt.Printf("%d keep-alive connections to a server with %d file descriptors (%.1f s): %d served, %d refused with 503, %d other, %d no answer within 3 s\n",
		*nConns, *nofile, time.Since(t).Seconds(), served.Load(), refused.Load(), other.Load(), failed.Load())
	newClients()

	for _, c := range open {
		c.Close()
	}
	time.Sleep(time.Second)

	// Connections that send nothing are not idle: nothing can be reaped.
	open = open[:0]
	for range *nConns {
		c, err := net.DialTimeout("tcp", s.api, 2*time.Second)
		if err != nil {
			break
		}
		open = append(open, c)
	}
	time.Sleep(500 * time.Millisecond)
	fmt.Printf("%d silent connections (opened, no request sent), then:\n", len(open))
	newClients()
	for _, c := range open {
		c.Close()
	}
	b, _ := os.ReadFile(s.log)
	if n := bytes.Count(b, []byte("too many open files")); n > 0 {
		fmt.Printf("  server log: %d lines with \"too many open files\"\n", n)
	}
}

// rawConn speaks HTTP/1.1 on one keep-alive connection, so any method goes.
type rawConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

// request sends one request and returns the status, or 0 on error (after
// which the connection is redialled on next use).
func (c *rawConn) request(method, target, host string) int {
	if c.c == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0
		}
		c.c, c.r = conn, bufio.NewReader(conn)
	}
	if host == "" {
		host = "api"
	}
	if _, err := fmt.Fprintf(c.c, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, target, host); err != nil {
		c.reset()
		return 0
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.reset()
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		c.reset()
	}
	return resp.StatusCode
}

func (c *rawConn) reset() {
	if c.c != nil {
		c.c.Close()
	}
	c.c = nil
}

func parallel(workers, n int, f func(*rawConn, int) int) statusCount {
	return parallelAt("127.0.0.1:21000", workers, n, f)
}

// parallelAt runs f for 0..n-1 on workers connections to addr.
func parallelAt(addr string, workers, n int, f func(*rawConn, int) int) statusCount {
	var next atomic.Int64
	counts := make([]statusCount, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &rawConn{addr: addr}
			defer c.reset()
			counts[w] = statusCount{}
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				counts[w][f(c, i)]++
			}
		}()
	}
	wg.Wait()
	total := statusCount{}
	for _, c := range counts {
		for k, v := range c {
			total[k] += v
		}
	}
	return total
}

type statusCount map[int]int

func (s statusCount) String() string {
	var keys []int
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "errors"
		}
		parts = append(parts, fmt.Sprintf("%d × %s", s[k], name))
	}
	b, _ := json.Marshal(parts)
	return strings.Trim(strings.ReplaceAll(string(b), `","`, ", "), `["]`)
}

func human(n int) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "measure-edges: "+format+"\n", args...)
	os.Exit(1)
}
