// Command authflood measures what a flood of forged bearer tokens (the
// development issuer's real kid, a signature that does not verify, a new
// payload each time) costs a legitimate client of /api/private, with the
// failed-credential limit off and on. Not part of CI; the figures are in
// docs/performance.md.
//
// It runs `api -dev` once per configuration (AUTH_FAILURE_LIMIT=off, the
// default limit, and with -redis the default limit counted in Redis), all
// at once on loopback, and then, ROUNDS times, for each configuration in
// turn: the legitimate client alone (from 127.0.0.1), then beside a flood
// of forged tokens, then beside a flood of requests without credentials
// (a reference: the cheapest refusal there is). The flood comes from
// another address, -attacker (127.0.0.2: Linux routes all of 127.0.0.0/8
// to lo), so that the limit blocks it and not the client. Both sides keep
// their connections open and send as fast as the answers come back (the
// flood at -flood-rate requests a second, if set). It
// prints medians over the rounds: the client's requests a second and p50
// and p99 latency, the flood's requests a second and answers, and the
// server's CPU.
//
//	go run ./.ci/authflood                           # 10s per run, 3 rounds
//	go run ./.ci/authflood -duration 5s -rounds 5 -redis redis://127.0.0.1:6397/0
//
// It listens on 127.0.0.1 ports -base to -base+8 (default 18160).
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	bin        = flag.String("bin", "", "API binary (default: build ./cmd/api)")
	duration   = flag.Duration("duration", 10*time.Second, "length of each run")
	rounds     = flag.Int("rounds", 3, "rounds (each runs every configuration and flood once)")
	legitConns = flag.Int("legit-conns", 16, "the legitimate client's connections")
	floodConns = flag.Int("flood-conns", 64, "the flood's connections")
	floodRate  = flag.Int("flood-rate", 0, "the flood's requests a second, spread over its connections (0: as fast as the answers come back)")
	attacker   = flag.String("attacker", "127.0.0.2", "the flood's source address (loopback)")
	base       = flag.Int("base", 18160, "first of the loopback ports used")
	redisURL   = flag.String("redis", "", "also measure the limit counted in this Redis (REDIS_URL)")
)

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "authflood-")
	check(err)
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "api")
		if out, err := exec.Command("go", "build", "-o", *bin, "./cmd/api").CombinedOutput(); err != nil {
			fail("go build: %v\n%s", err, out)
		}
	}
	configs := []struct{ name, env string }{
		{"limit off", "AUTH_FAILURE_LIMIT=off"},
		{"limit on (60/1m, memory)", ""},
	}
	if *redisURL != "" {
		configs = append(configs, struct{ name, env string }{"limit on (60/1m, Redis)", "REDIS_URL=" + *redisURL})
	}
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for i, c := range configs {
		s := start(tmp, fmt.Sprintf("api%d", i), *base+3*i, c.env)
		s.name = c.name
		servers = append(servers, s)
	}

	floods := []string{"alone", "forged tokens", "no credentials"}
	results := map[string][]result{} // by server and flood
	for r := 1; r <= *rounds; r++ {
		for _, s := range servers {
			for _, f := range floods {
				res := s.run(f)
				key := s.name + " | " + f
				results[key] = append(results[key], res)
				fmt.Fprintf(os.Stderr, "round %d  %-26s %-15s client %7.0f req/s p50 %6.2f ms p99 %6.2f ms | flood %7.0f req/s %v | server CPU %.2f cores\n",
					r, s.name, f, res.rps, ms(res.p50), ms(res.p99), res.floodRPS, res.floodStatus, res.cpu)
			}
		}
	}

	fmt.Printf("\n/api/private, a valid token from 127.0.0.1 over %d connections, beside a flood from %s over %d connections;\n",
		*legitConns, *attacker, *floodConns)
	rate := "as fast as answers come"
	if *floodRate > 0 {
		rate = fmt.Sprintf("at most %d req/s", *floodRate)
	}
	fmt.Printf("the flood %s; %s per run, medians of %d rounds, %d cores (loopback, load generator on the same cores)\n\n",
		rate, *duration, *rounds, runtime.NumCPU())
	fmt.Printf("%-26s %-15s %10s %9s %9s %10s  %-26s %s\n", "server", "flood", "client/s", "p50 ms", "p99 ms", "flood/s", "flood answers (last round)", "server CPU")
	for _, s := range servers {
		for _, f := range floods {
			rs := results[s.name+" | "+f]
			fmt.Printf("%-26s %-15s %10.0f %9.2f %9.2f %10.0f  %-26s %.2f\n", s.name, f,
				median(rs, func(r result) float64 { return r.rps }),
				median(rs, func(r result) float64 { return ms(r.p50) }),
				median(rs, func(r result) float64 { return ms(r.p99) }),
				median(rs, func(r result) float64 { return r.floodRPS }),
				fmt.Sprint(rs[len(rs)-1].floodStatus),
				median(rs, func(r result) float64 { return r.cpu }))
		}
	}
	for _, s := range servers {
		fmt.Printf("\n%s: auth_outcomes_total %s", s.name, s.outcomes())
	}
	fmt.Println()
}

type result struct {
	rps, floodRPS float64
	p50, p99      time.Duration
	floodStatus   map[int]int
	cpu           float64 // cores
}

// server is a running `api -dev`.
type server struct {
	name                 string
	cmd                  *exec.Cmd
	api, issuer, metrics string
	valid                string   // a valid token
	forged               []string // distinct forged tokens
}

func start(tmp, name string, port int, env string) *server {
	s := &server{
		api:     fmt.Sprintf("127.0.0.1:%d", port),
		issuer:  fmt.Sprintf("127.0.0.1:%d", port+1),
		metrics: fmt.Sprintf("127.0.0.1:%d", port+2),
	}
	for _, a := range []string{s.api, s.issuer, s.metrics} {
		if c, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
			c.Close()
			fail("%s is taken; stop what listens there, or choose another -base", a)
		}
	}
	dir := filepath.Join(tmp, name+"-dev")
	s.cmd = exec.Command(*bin, "-dev", "-dev-dir", dir, "-addr", s.api, "-dev-issuer-addr", s.issuer, "-metrics-addr", s.metrics)
	logf, err := os.Create(filepath.Join(tmp, name+".log"))
	check(err)
	s.cmd.Stderr = logf
	s.cmd.Env = os.Environ()
	if env != "" {
		s.cmd.Env = append(s.cmd.Env, env)
	}
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
			b, _ := os.ReadFile(logf.Name())
			fail("server did not get ready:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := exec.Command(*bin, "token", "-dev-dir", dir, "-dev-issuer-addr", s.issuer).Output()
	check(err)
	s.valid = strings.TrimSpace(string(out))
	s.forged = forge(s.valid, 4096)
	return s
}

func (s *server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// forge returns n tokens with valid's header (its alg and the issuer's
// kid) and signature, and payloads of their own: each costs the API a
// signature check to refuse.
func forge(valid string, n int) []string {
	parts := strings.Split(valid, ".")
	if len(parts) != 3 {
		fail("the token is not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	check(err)
	var claims map[string]any
	check(json.Unmarshal(payload, &claims))
	out := make([]string, n)
	for i := range out {
		claims["sub"] = fmt.Sprintf("mallory-%d", i)
		p, err := json.Marshal(claims)
		check(err)
		out[i] = parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
	}
	return out
}

// run measures the legitimate client for one run beside flood.
func (s *server) run(flood string) result {
	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		latencies []time.Duration
		ok        atomic.Int64
		floodN    atomic.Int64
		status    = map[int]int{}
	)
	legitReq := []byte("GET /api/private HTTP/1.1\r\nHost: " + s.api + "\r\nAuthorization: Bearer " + s.valid + "\r\n\r\n")
	if flood != "alone" {
		for i := range *floodConns {
			wg.Go(func() {
				counts := map[int]int{}
				defer func() {
					mu.Lock()
					for k, v := range counts {
						status[k] += v
					}
					mu.Unlock()
				}()
				var c *client
				var gap time.Duration // between one connection's requests, at -flood-rate
				if *floodRate > 0 {
					gap = time.Duration(float64(time.Second) * float64(*floodConns) / float64(*floodRate))
				}
				next := time.Now()
				for n := i; !stop.Load(); n += *floodConns {
					if gap > 0 {
						next = next.Add(gap)
						time.Sleep(time.Until(next))
					}
					if c == nil {
						var err error
						if c, err = dial(*attacker, s.api); err != nil {
							counts[-1]++
							time.Sleep(10 * time.Millisecond)
							continue
						}
					}
					req := "GET /api/private HTTP/1.1\r\nHost: " + s.api + "\r\n\r\n"
					if flood == "forged tokens" {
						req = "GET /api/private HTTP/1.1\r\nHost: " + s.api + "\r\nAuthorization: Bearer " + s.forged[n%len(s.forged)] + "\r\n\r\n"
					}
					code, err := c.do([]byte(req))
					if err != nil {
						c.close()
						c = nil
						counts[-1]++
						continue
					}
					counts[code]++
					floodN.Add(1)
				}
				if c != nil {
					c.close()
				}
			})
		}
		time.Sleep(time.Second) // the flood under way before the client starts
	}
	cpu0 := s.cpuTime()
	floodN.Store(0)
	t0 := time.Now()
	var legit sync.WaitGroup
	for range *legitConns {
		legit.Go(func() {
			var mine []time.Duration
			c, err := dial("127.0.0.1", s.api)
			check(err)
			defer c.close()
			for time.Since(t0) < *duration {
				start := time.Now()
				code, err := c.do(legitReq)
				if err != nil {
					fail("the legitimate client: %v", err)
				}
				if code != 200 {
					fail("the legitimate client got %d", code)
				}
				mine = append(mine, time.Since(start))
				ok.Add(1)
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	legit.Wait()
	took := time.Since(t0)
	cpu := (s.cpuTime() - cpu0).Seconds() / took.Seconds()
	floodDone := floodN.Load()
	stop.Store(true)
	wg.Wait()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	return result{
		rps: float64(ok.Load()) / took.Seconds(), p50: pct(0.50), p99: pct(0.99),
		floodRPS: float64(floodDone) / took.Seconds(), floodStatus: status, cpu: cpu,
	}
}

// cpuTime is the server's CPU time so far (user and system).
func (s *server) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	check(err)
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// outcomes returns the server's non-zero auth_outcomes_total series.
func (s *server) outcomes() string {
	resp, err := http.Get("http://" + s.metrics + "/metrics")
	check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(err)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "auth_outcomes_total{") && !strings.HasSuffix(line, " 0") {
			out = append(out, strings.TrimPrefix(line, "auth_outcomes_total"))
		}
	}
	return strings.Join(out, ", ")
}

// client is one keep-alive HTTP/1.1 connection, read just enough to know
// each answer's status and length: cheaper than net/http's client, so
// that the load generator takes less of the cores it shares.
type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(from, to string) (*client, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", to)
	if err != nil {
		return nil, err
	}
	return &client{c: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

func (c *client) close() { c.c.Close() }

// do sends req and reads the answer: its status.
func (c *client) do(req []byte) (int, error) {
	if _, err := c.c.Write(req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !strings.HasPrefix(string(line), "HTTP/1.1 ") {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length, closing := -1, false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		name, value, _ := strings.Cut(string(h), ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			length, _ = strconv.Atoi(value)
		case "connection":
			closing = strings.EqualFold(value, "close")
		}
	}
	if length < 0 {
		return 0, errors.New("an answer without Content-Length")
	}
	if _, err := c.r.Discard(length); err != nil {
		return 0, err
	}
	if closing {
		return code, errors.New("the server closed the connection")
	}
	return code, nil
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "authflood: "+format+"\n", args...)
	os.Exit(1)
}
