// Command boundedmemory runs the memory attacks against `api -dev` started
// with default settings (only its ports and directory chosen), and fails
// if the server's resident memory (VmRSS, sampled every 50 ms, and VmHWM)
// ever exceeds its MEMORY_LIMIT. Each phase starts a fresh server, seeds
// 100 messages of "x" and 499 U+2028 characters (near the longest JSON a
// message can have: a page of 100 is 318 KB), and runs, beside a legitimate client
// that keeps calling /api/public and /api/messages?limit=100 and reads
// its answers:
//
//	baseline  the legitimate client alone
//	headers   connections that each send an unfinished request head as
//	          large as the server reads (MaxHeaderBytes + 4 KiB - 1, in
//	          100 fields) and wait, reconnecting when the server closes
//	          them
//	lists     connections that each ask (-pipeline requests) for the
//	          newest page of 100 with one of -subjects tokens and never
//	          read, with a 4 KiB receive buffer; each held 35 s (past the
//	          server's 30 s write timeout), then opened again (with
//	          -reconnect: as soon as the server closes it)
//	all       both at once, half the connections each
//	h2        (with -tls) HTTP/2 connections that each open 10 streams
//	          (the most the server allows) with header blocks of 1,300
//	          tiny fields (over the 40 KiB limit: net/http answers 431),
//	          take no answer (a stream window of 0), send 64 KiB of
//	          request body nothing reads, and leave one more header block
//	          of about 38 KiB unfinished
//	tlsall    (with -tls) headers, lists and h2 at once, a third each
//
// With -tls the server serves HTTPS (TLS_CERT_FILE, TLS_KEY_FILE: a
// certificate made here), the legitimate client speaks HTTP/2 and the
// headers and lists attacks HTTP/1.1 over TLS.
//
// Attack connections default to MAX_CONNS (from the server's "memory
// plan" log line) less 100, so that the legitimate client is not turned
// away at the connection cap. Not part of CI (about 4 minutes); the
// figures are in docs/operations.md.
//
//	go run ./.ci/boundedmemory
//	go run ./.ci/boundedmemory -phases all -subjects 1
//	MEMORY_LIMIT=512MiB go run ./.ci/boundedmemory
//	go run ./.ci/boundedmemory -tls -phases baseline,headers,lists,h2,tlsall
//
// The server gets this program's environment (MEMORY_LIMIT included),
// an open-file limit of -nofile, and listens on 127.0.0.1 ports -port,
// -port+1 and -port+2. Attack connections come from this one process:
// Go raises its own open-file limit to the hard limit.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	bin       = flag.String("bin", "", "API binary (default: build ./cmd/api)")
	port      = flag.Int("port", 18130, "the API's port; the development issuer and /metrics take the next two")
	phases    = flag.String("phases", "baseline,headers,lists,all", "comma-separated phases")
	conns     = flag.Int("conns", 0, "attack connections in each phase (default MAX_CONNS - 100)")
	subjects  = flag.Int("subjects", 16, "distinct tokens (subjects) the list attack uses")
	hold      = flag.Duration("hold", 30*time.Second, "how long each phase keeps its attack up once opened")
	nofile    = flag.Int("nofile", 20000, "the server's open-file limit (ulimit -n)")
	headMax   = flag.Int("max-header-bytes", 40<<10, "the server's MaxHeaderBytes (httpapi.MaxHeaderBytes)")
	pipeline  = flag.Int("pipeline", 1, "requests each list-attack connection sends at once")
	eager     = flag.Bool("reconnect", false, "list attack: open a new connection as soon as the server closes one (a request flood), rather than holding it 35 s")
	useTLS    = flag.Bool("tls", false, "serve HTTPS (and HTTP/2): the attacks and the legitimate client speak TLS")
	h2Streams = flag.Int("h2-streams", 10, "h2 attack: streams each connection opens (the server allows 10 at once)")
	h2Path    = flag.String("h2-path", "/api/messages?limit=100", "h2 attack: what each stream asks for")
)

// tlsFiles are the certificate and key the server serves with -tls, and
// clientTLS trusts it.
var (
	certFile, keyFile string
	clientTLS         *tls.Config
)

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "boundedmemory-")
	check(err)
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "api")
		if out, err := exec.Command("go", "build", "-o", *bin, "./cmd/api").CombinedOutput(); err != nil {
			fail("go build: %v\n%s", err, out)
		}
	}
	if *useTLS {
		makeCertificate(tmp)
	}
	var results []result
	over := false
	for _, p := range strings.Split(*phases, ",") {
		r := runPhase(tmp, p)
		results = append(results, r)
		over = over || r.peakKB > r.limit>>10 || r.hwmKB > r.limit>>10
	}
	fmt.Printf("\n%-9s %6s %9s %9s %9s  %-42s %s\n", "phase", "conns", "limit", "peak RSS", "VmHWM",
		"/api/public: p50 p99 max; statuses", "/api/messages?limit=100: p50 p99 max; statuses")
	for _, r := range results {
		fmt.Printf("%-9s %6d %6d MB %6d MB %6d MB  %-42s %s\n", r.phase, r.conns, r.limit>>20, r.peakKB>>10, r.hwmKB>>10, r.public, r.list)
	}
	fmt.Println()
	for _, r := range results {
		fmt.Printf("%s: %s\n", r.phase, r.notes)
	}
	if over {
		fmt.Println("FAIL: resident memory exceeded MEMORY_LIMIT")
		os.Exit(1)
	}
}

type result struct {
	phase         string
	conns         int
	limit         int64 // bytes
	peakKB, hwmKB int64
	public, list  string
	notes         string
}

func runPhase(tmp, phase string) result {
	s := start(tmp, phase)
	defer s.stop()
	limit := int64(s.plan["memory_limit"].(float64))
	maxConns := int(s.plan["max_conns"].(float64))
	fmt.Printf("== %s: MEMORY_LIMIT %d MiB (%s), MAX_CONNS %d, answer budget %d MiB\n", phase, limit>>20,
		s.plan["from"], maxConns, int64(s.plan["answer_budget"].(float64))>>20)

	writer := s.tokens("writer", "write:messages", 1)[0]
	// U+2028 is white space: a text of only that is empty to the API.
	body, _ := json.Marshal(map[string]string{"text": "x" + strings.Repeat("\u2028", 499)})
	for range 100 {
		req, _ := http.NewRequest("POST", apiURL(s.api)+"/api/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+writer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := apiClient(10 * time.Second).Do(req)
		check(err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			fail("seeding: %d", resp.StatusCode)
		}
	}
	reader := s.tokens("alice", "read:messages", 1)[0]
	attackers := s.tokens("mallory", "read:messages", *subjects)

	n := *conns
	if n == 0 {
		n = maxConns - 100
	}
	ctx, cancel := context.WithCancel(context.Background())
	sampler := s.sample(ctx)
	legit := startLegit(ctx, s.api, reader)
	var heads, lists, h2s *attack
	switch phase {
	case "baseline":
		n = 0
	case "headers":
		heads = headerAttack(ctx, s.api, n)
	case "lists":
		lists = listAttack(ctx, s.api, n, attackers)
	case "all":
		heads = headerAttack(ctx, s.api, n/2)
		lists = listAttack(ctx, s.api, n-n/2, attackers)
	case "h2", "tlsall":
		if !*useTLS {
			fail("phase %s needs -tls", phase)
		}
		if phase == "h2" {
			h2s = h2Attack(ctx, s.api, n, attackers)
			break
		}
		heads = headerAttack(ctx, s.api, n/3)
		lists = listAttack(ctx, s.api, n/3, attackers)
		h2s = h2Attack(ctx, s.api, n-2*(n/3), attackers)
	default:
		fail("unknown phase %q", phase)
	}
	start := time.Now()
	for (heads != nil && heads.open.Load() < int64(heads.n)) || (lists != nil && lists.open.Load() < int64(lists.n)) ||
		(h2s != nil && h2s.open.Load() < int64(h2s.n)) {
		if time.Since(start) > 60*time.Second {
			fmt.Printf("  not every attack connection opened within 60 s; going on\n")
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	opened := time.Since(start)
	time.Sleep(*hold)
	metrics := s.scrape()
	cancel()
	peak := <-sampler
	pub, list := legit.wait()
	hwm := s.status("VmHWM")

	var notes []string
	if heads != nil {
		notes = append(notes, fmt.Sprintf("header attack: %d connections (opened in %.1f s), %d opened in all, %d heads sent",
			heads.n, opened.Seconds(), heads.dials.Load(), heads.sent.Load()))
	}
	if lists != nil {
		notes = append(notes, fmt.Sprintf("list attack: %d connections with %d tokens (opened in %.1f s), %d opened in all, %d requests sent",
			lists.n, len(attackers), opened.Seconds(), lists.dials.Load(), lists.sent.Load()))
	}
	if h2s != nil {
		notes = append(notes, fmt.Sprintf("HTTP/2 attack: %d connections (opened in %.1f s), %d opened in all, %d streams opened",
			h2s.n, opened.Seconds(), h2s.dials.Load(), h2s.sent.Load()))
	}
	for line := range strings.Lines(metrics) {
		for _, m := range []string{"http_answer_budget_refused_total", "http_connections_refused_total", "http_connections_open ",
			"http_requests_too_many_header_fields_total", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes",
			"http2_streams_open", "http2_streams_refused_total"} {
			if strings.HasPrefix(line, m) {
				notes = append(notes, strings.TrimSpace(line))
			}
		}
	}
	return result{phase: phase, conns: n, limit: limit, peakKB: peak, hwmKB: hwm, public: pub.String(), list: list.String(), notes: strings.Join(notes, "; ")}
}

// server is a running `api -dev`.
type server struct {
	cmd                  *exec.Cmd
	api, issuer, metrics string
	dir, log             string
	plan                 map[string]any // the "memory plan" log line
}

func start(tmp, name string) *server {
	s := &server{
		api:     fmt.Sprintf("127.0.0.1:%d", *port),
		issuer:  fmt.Sprintf("127.0.0.1:%d", *port+1),
		metrics: fmt.Sprintf("127.0.0.1:%d", *port+2),
		dir:     filepath.Join(tmp, name+"-dev"),
		log:     filepath.Join(tmp, name+".log"),
	}
	for _, a := range []string{s.api, s.issuer, s.metrics} {
		if c, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
			c.Close()
			fail("%s is taken; stop what listens there (or choose -port)", a)
		}
	}
	// The attack connections all come from 127.0.0.1: no share per client,
	// so that they can fill MAX_CONNS, whose memory is what is measured.
	args := []string{"-dev", "-dev-dir", s.dir, "-addr", s.api, "-dev-issuer-addr", s.issuer, "-metrics-addr", s.metrics,
		"-max-conns-per-client", "off"}
	if *useTLS {
		args = append(args, "-tls-cert-file", certFile, "-tls-key-file", keyFile)
	}
	s.cmd = exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, *nofile), *bin}, args...)...)
	logf, err := os.Create(s.log)
	check(err)
	s.cmd.Stderr = logf
	check(s.cmd.Start())
	running.Store(s)
	deadline := time.Now().Add(30 * time.Second)
	for s.plan == nil {
		b, _ := os.ReadFile(s.log)
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, `"msg":"memory plan"`) {
				check(json.Unmarshal([]byte(line), &s.plan))
			}
		}
		if s.plan == nil && time.Now().After(deadline) {
			s.stop()
			fail("the server did not start:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		if resp, err := apiClient(5 * time.Second).Get(apiURL(s.api) + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			fail("the server never got ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) stop() {
	running.CompareAndSwap(s, nil)
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// tokens mints count tokens (distinct subjects sub-1, sub-2, ... when
// more than one) with `api token`.
func (s *server) tokens(sub, scope string, count int) []string {
	out, err := exec.Command(*bin, "token", "-dev-dir", s.dir, "-dev-issuer-addr", s.issuer,
		"-sub", sub, "-scope", scope, "-count", strconv.Itoa(count)).Output()
	check(err)
	return strings.Fields(string(out))
}

// status returns a /proc/PID/status field in kB.
func (s *server) status(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// sample reads VmRSS every 50 ms until ctx ends, then sends the peak (kB).
func (s *server) sample(ctx context.Context) <-chan int64 {
	peak := make(chan int64, 1)
	go func() {
		var most int64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			most = max(most, s.status("VmRSS"))
			select {
			case <-ctx.Done():
				peak <- most
				return
			case <-t.C:
			}
		}
	}()
	return peak
}

func (s *server) scrape() string {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// attack is a crowd of connections kept open by goroutines.
type attack struct {
	n                 int
	proto             string // over TLS, the protocol asked for by ALPN; "": plain TCP
	open, dials, sent atomic.Int64
}

// overTLS is the protocol an HTTP/1.1 attack asks for: "" (plain) unless -tls.
func overTLS() string {
	if *useTLS {
		return "http/1.1"
	}
	return ""
}

// dialer opens attack connections with a small receive buffer, set before
// connecting so that the window the server sees stays small.
var dialer = &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
	var err error
	c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	return err
}}

// crowd keeps n connections running conn until ctx ends, opening at most
// 256 at a time.
func crowd(ctx context.Context, addr string, a *attack, conn func(ctx context.Context, c net.Conn, i int)) *attack {
	n := a.n
	gate := make(chan struct{}, 256)
	for i := range n {
		go func() {
			for ctx.Err() == nil {
				gate <- struct{}{}
				c, err := dialer.DialContext(ctx, "tcp", addr)
				if err == nil && a.proto != "" {
					conf := clientTLS.Clone()
					conf.NextProtos = []string{a.proto}
					conf.ServerName = "127.0.0.1"
					tc := tls.Client(c, conf)
					tc.SetDeadline(time.Now().Add(10 * time.Second))
					if err = tc.HandshakeContext(ctx); err != nil {
						c.Close()
					} else {
						tc.SetDeadline(time.Time{})
						c = tc
					}
				}
				<-gate
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				a.dials.Add(1)
				a.open.Add(1)
				stop := context.AfterFunc(ctx, func() { c.Close() })
				conn(ctx, c, i)
				stop()
				c.Close()
				a.open.Add(-1)
			}
		}()
	}
	return a
}

// headerAttack keeps n connections each holding an unfinished head of
// the most bytes the server reads: 100 fields (the most it takes) of
// about equal size, the last one unfinished.
func headerAttack(ctx context.Context, addr string, n int) *attack {
	size := *headMax + 4096 - 1
	var b strings.Builder
	b.WriteString("GET /api/public HTTP/1.1\r\nHost: api\r\n")
	per := (size - b.Len()) / 99
	for i := 0; i < 98; i++ {
		fmt.Fprintf(&b, "X-Field-%02d: %s\r\n", i, strings.Repeat("v", per-len("X-Field-00: \r\n")))
	}
	b.WriteString("X-Last: " + strings.Repeat("v", size-b.Len()-len("X-Last: ")))
	head := []byte(b.String())
	a := &attack{n: n, proto: overTLS()}
	return crowd(ctx, addr, a, func(ctx context.Context, c net.Conn, _ int) {
		if _, err := c.Write(head); err != nil {
			return
		}
		a.sent.Add(1)
		io.Copy(io.Discard, c) // until the server closes it (its header timeout)
	})
}

// listAttack keeps n connections that ask for the newest page and never
// read, each held 35 s (past the server's 30 s write timeout).
func listAttack(ctx context.Context, addr string, n int, tokens []string) *attack {
	a := &attack{n: n, proto: overTLS()}
	return crowd(ctx, addr, a, func(ctx context.Context, c net.Conn, i int) {
		req := "GET /api/messages?limit=100 HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + tokens[i%len(tokens)] + "\r\n\r\n"
		if _, err := io.WriteString(c, strings.Repeat(req, *pipeline)); err != nil {
			return
		}
		a.sent.Add(int64(*pipeline))
		held := time.After(35 * time.Second)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-held:
				return
			case <-tick.C:
				if *eager && closed(c) {
					return
				}
			}
		}
	})
}

// closed reports whether the server has closed c, without reading what
// it sent (a peek).
func closed(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return true
	}
	var n int
	var rerr error
	raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	return n == 0 && rerr == nil || rerr != nil && rerr != syscall.EAGAIN
}

// latencies are one endpoint's answers to the legitimate client.
type latencies struct {
	took     []time.Duration
	statuses map[int]int
}

func (l *latencies) String() string {
	if len(l.took) == 0 {
		return "none"
	}
	slices.Sort(l.took)
	q := func(p float64) string { return fmtDur(l.took[int(p*float64(len(l.took)-1))]) }
	var st []string
	for code, n := range l.statuses {
		st = append(st, fmt.Sprintf("%d×%d", n, code))
	}
	slices.Sort(st)
	return fmt.Sprintf("%s %s %s; %s", q(0.5), q(0.99), fmtDur(l.took[len(l.took)-1]), strings.Join(st, " "))
}

func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

type legitClient struct {
	done         chan struct{}
	public, list latencies
}

// startLegit calls /api/public and /api/messages?limit=100 in turn,
// reading every answer, 20 ms apart, over keep-alive connections.
func startLegit(ctx context.Context, addr, token string) *legitClient {
	l := &legitClient{done: make(chan struct{}), public: latencies{statuses: map[int]int{}}, list: latencies{statuses: map[int]int{}}}
	client := apiClient(30 * time.Second)
	call := func(lat *latencies, path, token string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", apiURL(addr)+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		t := time.Now()
		resp, err := client.Do(req)
		code := 0 // no answer
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		}
		if ctx.Err() != nil {
			return
		}
		lat.took = append(lat.took, time.Since(t))
		lat.statuses[code]++
	}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			call(&l.public, "/api/public", "")
			call(&l.list, "/api/messages?limit=100", token)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return l
}

func (l *legitClient) wait() (public, list *latencies) {
	<-l.done
	return &l.public, &l.list
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

// running is the server of the phase under way, stopped by fail.
var running atomic.Pointer[server]

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "boundedmemory: "+format+"\n", args...)
	if s := running.Load(); s != nil {
		s.cmd.Process.Kill()
	}
	os.Exit(1)
}
