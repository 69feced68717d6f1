package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// nextPort counts the ports handed out from -ports.
var nextPort int

// freePort returns the next port from -ports, or (-ports 0) a loopback
// port nothing listens on now.
func freePort() int {
	if *portBase > 0 {
		nextPort++
		return *portBase + nextPort - 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess starts a child that dies with this program (Pdeathsig).
func startProcess(path string, args, env []string, stderr io.Writer) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	check(cmd.Start())
	children.Add(cmd)
	return cmd
}

// stopProcess sends SIGTERM, then SIGKILL after 15 s, and waits.
func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// childSet holds the children, killed by fail.
type childSet struct {
	mu   sync.Mutex
	cmds []*exec.Cmd
}

var children childSet

func (s *childSet) Add(c *exec.Cmd) { s.mu.Lock(); s.cmds = append(s.cmds, c); s.mu.Unlock() }

func (s *childSet) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.cmds {
		c.Process.Kill()
	}
	for _, c := range s.cmds {
		// Reaped here, or by a stopProcess under way (then this returns
		// at once with an error).
		c.Wait()
	}
}

// startRedis starts a throwaway redis-server on a free loopback port,
// with maxmemory-policy noeviction (as the API requires of a replay
// store), and returns it and its URL.
func startRedis(dir string) (*exec.Cmd, string) {
	port := freePort()
	log, err := os.Create(filepath.Join(dir, "redis.log"))
	check(err)
	cmd := startProcess("redis-server", []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--maxmemory", *redisMaxMemory, "--maxmemory-policy", "noeviction"}, os.Environ(), log)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprint(c, "PING\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if line == "+PONG\r\n" {
			return cmd, "redis://" + addr + "/0"
		}
	}
	fail("redis-server on %s did not answer PING (log in %s)", addr, dir)
	return nil, ""
}

// server is the running `api -dev`.
type server struct {
	cmd                  *exec.Cmd
	api, issuer, metrics string // host:port
	dir                  string // DEV_DIR
	plan                 map[string]any
	logs                 *logCounter
}

// startAPI starts bin -dev on free loopback ports with env added to this
// program's environment, and waits for /readyz.
func startAPI(bin, tmp string, env []string) *server {
	s := &server{
		api:     fmt.Sprintf("127.0.0.1:%d", freePort()),
		issuer:  fmt.Sprintf("127.0.0.1:%d", freePort()),
		metrics: fmt.Sprintf("127.0.0.1:%d", freePort()),
		dir:     filepath.Join(tmp, "dev"),
	}
	other, err := os.Create(filepath.Join(tmp, "api-other.log"))
	check(err)
	s.logs = &logCounter{other: other}
	pr, pw, err := os.Pipe()
	check(err)
	s.cmd = startProcess(bin, []string{"-dev", "-dev-dir", s.dir, "-addr", s.api, "-dev-issuer-addr", s.issuer,
		"-metrics-addr", s.metrics}, append(os.Environ(), env...), pw)
	pw.Close()
	go s.logs.read(pr)
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if resp, err := client.Get("http://" + s.api + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) || s.cmd.ProcessState != nil {
			fail("the API did not get ready; its log:\n%s", s.logs.kept())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The memory plan is logged before the API listens, but its reader may
	// lag behind.
	for start := time.Now(); s.logs.line(`"msg":"memory plan"`) == ""; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			fail("no memory plan in the API's log:\n%s", s.logs.kept())
		}
	}
	check(json.Unmarshal([]byte(s.logs.line(`"msg":"memory plan"`)), &s.plan))
	return s
}

// alive says why the server is not running and ready (nil when it is):
// its process gone, or /readyz not 200 within 10 s.
func (s *server) alive() error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return fmt.Errorf("process %d is gone", s.cmd.Process.Pid)
	}
	if _, rest, _ := strings.Cut(string(b), ") "); strings.HasPrefix(rest, "Z") {
		return fmt.Errorf("process %d has exited", s.cmd.Process.Pid)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		resp, err := client.Get("http://" + s.api + "/readyz")
		if err != nil {
			last = shortErr(err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return nil
		}
		last = resp.Status
	}
	return fmt.Errorf("/readyz: %s", last)
}

func (s *server) planInt(name string) int64 {
	v, _ := s.plan[name].(float64)
	return int64(v)
}

// logCounter reads the server's JSON log lines: it keeps the lines that
// are no request's (start-up) and the first 40 at WARN or ERROR, and
// counts lines by level.
type logCounter struct {
	mu       sync.Mutex
	lines    []string
	levels   map[string]int
	messages map[string]int // "LEVEL msg: error" of the WARN and ERROR lines
	warnings int
	other    io.Writer // where lines that are not JSON go
}

func (l *logCounter) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var e struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Status int    `json:"status"`
			Err    string `json:"error"`
		}
		if json.Unmarshal([]byte(line), &e) != nil && l.other != nil {
			fmt.Fprintln(l.other, line) // GODEBUG=gctrace=1, say
			continue
		}
		l.mu.Lock()
		if l.levels == nil {
			l.levels = map[string]int{}
		}
		l.levels[e.Level]++
		if e.Level == "WARN" || e.Level == "ERROR" {
			if l.messages == nil {
				l.messages = map[string]int{}
			}
			k := e.Level + " " + e.Msg
			if e.Err != "" {
				k += ": " + e.Err
			}
			if len(k) > 200 {
				k = k[:200]
			}
			if _, ok := l.messages[k]; ok || len(l.messages) < 100 {
				l.messages[k]++
			}
		}
		if e.Status == 0 && len(l.lines) < 200 || (e.Level == "WARN" || e.Level == "ERROR") && l.warnings < 40 {
			l.lines = append(l.lines, line)
			if e.Status != 0 {
				l.warnings++
			}
		}
		l.mu.Unlock()
	}
}

// line returns the first kept line containing s.
func (l *logCounter) line(s string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

func (l *logCounter) kept() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// messagesSince returns the WARN and ERROR messages counted since
// before (a copy of an earlier call's result), with their counts.
func (l *logCounter) messagesSince(before map[string]int) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.messages {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func (l *logCounter) count(level string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.levels[level]
}

// status returns a /proc/PID/status field in kB (0 once it is gone).
func status(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
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

// cpuTime is a process's CPU time so far (user and system).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// rssSampler reads the server's VmRSS every 50 ms until ctx ends: the
// peak since the last reset, and over the whole run.
type rssSampler struct {
	phase, run atomic.Int64 // kB
	samples    atomic.Int64
}

func (r *rssSampler) start(ctx context.Context, pid int) {
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			kb := status(pid, "VmRSS")
			r.samples.Add(1)
			for _, p := range []*atomic.Int64{&r.phase, &r.run} {
				for old := p.Load(); kb > old && !p.CompareAndSwap(old, kb); old = p.Load() {
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// metrics is one scrape of /metrics: every sample by its series.
type metrics map[string]float64

func (s *server) scrape() metrics {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		return metrics{}
	}
	defer resp.Body.Close()
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// sum adds up the series of name whose labels contain every one of
// labels (`status="503"`), in m less in before.
func (m metrics) delta(before metrics, name string, labels ...string) float64 {
	var total float64
	for series, v := range m {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(series, l)
		}
		if ok {
			total += v - before[series]
		}
	}
	return total
}

// byLabel returns, for the series of name, the change of each value of
// label (non-zero only), as "value×n" items.
func (m metrics) byLabel(before metrics, name, label string) map[string]float64 {
	out := map[string]float64{}
	for series, v := range m {
		if !strings.HasPrefix(series, name+"{") {
			continue
		}
		i := strings.Index(series, label+`="`)
		if i < 0 {
			continue
		}
		rest := series[i+len(label)+2:]
		value := rest[:strings.IndexByte(rest, '"')]
		if d := v - before[series]; d != 0 {
			out[value] += d
		}
	}
	return out
}
