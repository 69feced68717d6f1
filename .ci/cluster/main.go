// Command cluster runs two API instances behind haproxy on loopback and
// checks that nothing acknowledged is lost and no DPoP proof is accepted
// twice while one instance is killed with SIGKILL and started again, and
// later the other is stopped gracefully (SIGTERM, as in a rolling update)
// and started again. Not part of the API; run it with .ci/cluster/run,
// which builds the binary and starts PostgreSQL first:
//
//	.ci/cluster/run [-duration 30s] [-rate 400] [-kill-at 10s] [-term-at 20s] [-down 2s] [-shutdown-delay 2s]
//
// What it starts, each on a loopback port the kernel hands out: a
// throwaway redis-server (the DPoP replay store the instances share), two
// instances of the API (DATABASE_URL: the PostgreSQL given; REDIS_URL;
// AUTH_PROVIDER=static with a JWKS file, and the tokens signed here with
// the matching private key, as an identity provider would; PUBLIC_URL:
// haproxy's address, which DPoP proofs name; SHUTDOWN_DELAY: -shutdown-delay)
// and haproxy in front of them, health-checking /readyz.
//
// The load, through haproxy at a fixed rate: lists of messages, posts,
// deletes of the client's own acknowledged posts, and DPoP requests with
// fresh proofs; after each accepted DPoP request the same proof is sent
// straight to the other instance, which must refuse it. Instance b gets
// SIGKILL at -kill-at, instance a SIGTERM at -term-at; each is started
// again -down later.
//
// The report: requests served, errors seen by clients and for how long
// after each stop, replays accepted (must be 0), acknowledged posts lost
// (every 201's message must be listed afterwards, unless a 204 deleted
// it: must be 0), and how long until each restarted instance took traffic
// again. It exits 1 when a check fails (also when an instance never took
// traffic again, or did not exit with status 0 after SIGTERM).
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
)

const (
	issuer   = "https://issuer.cluster.test/"
	audience = "https://api.cluster.test"
)

type options struct {
	api         string
	dir         string
	databaseURL string
	duration    time.Duration
	rate        int
	clients     int
	killAt      time.Duration
	termAt      time.Duration
	delay       time.Duration
	down        time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.api, "api", "", "the API binary (required)")
	flag.StringVar(&o.dir, "dir", "", "a folder for keys, configuration and logs (required)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long the load runs")
	flag.IntVar(&o.rate, "rate", 400, "requests a second through haproxy, all clients together")
	flag.IntVar(&o.clients, "clients", 8, "concurrent clients, each with its own user and DPoP key")
	flag.DurationVar(&o.killAt, "kill-at", 10*time.Second, "when instance b gets SIGKILL, from the start of the load")
	flag.DurationVar(&o.termAt, "term-at", 20*time.Second, "when instance a gets SIGTERM (a graceful stop, as in a rolling update); 0: never")
	flag.DurationVar(&o.delay, "shutdown-delay", 2*time.Second, "the instances' SHUTDOWN_DELAY: on SIGTERM, /readyz answers 503 this long before the listener closes (haproxy needs 2 checks 500 ms apart)")
	flag.DurationVar(&o.down, "down", 2*time.Second, "how long a stopped instance stays down before it is started again")
	flag.Parse()
	o.databaseURL = os.Getenv("DATABASE_URL")
	if o.api == "" || o.dir == "" || o.databaseURL == "" {
		fmt.Fprintln(os.Stderr, "cluster: -api, -dir and DATABASE_URL (postgres://…) are required; run .ci/cluster/run")
		os.Exit(2)
	}
	if o.killAt+o.down >= o.duration || (o.termAt > 0 && (o.termAt < o.killAt+o.down+5*time.Second || o.termAt+o.delay+o.down >= o.duration)) ||
		o.rate < 1 || o.clients < 1 {
		fmt.Fprintln(os.Stderr, "cluster: -kill-at plus -down must end before -duration, and -term-at between 5 s after that and -duration less -shutdown-delay and -down; -rate and -clients at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

// run starts everything, runs the load, checks and reports; failed is
// true when a check failed.
func run(ctx context.Context, o options) (failed bool, err error) {
	var procs procSet
	defer procs.stopAll()

	minter, keyFile, err := newIssuer(o.dir)
	if err != nil {
		return false, err
	}
	redisURL, err := startRedis(&procs, o.dir)
	if err != nil {
		return false, err
	}
	// A Redis that has just started cannot vouch for DPoP proofs that could
	// have been used before its start: those made within DPOP_IAT_LEEWAY of
	// it are refused (503) until the leeway has passed. A leeway of 2 s,
	// and load from 3 s after Redis's start, keep that out of the run.
	redisStarted := time.Now()
	ports := map[string]int{"a": freePort(), "b": freePort()}
	lbPort, statsPort := freePort(), freePort()
	lb := fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	// AUTH_FAILURE_LIMIT=off: the load replays DPoP proofs on purpose,
	// about 100 a second from 127.0.0.1, and the limit would answer them
	// 429 before the replay check this run is about (and, haproxy being
	// on 127.0.0.1 too, every other request with them).
	env := append([]string{"PATH=" + os.Getenv("PATH")},
		"DATABASE_URL="+o.databaseURL, "REDIS_URL="+redisURL,
		"AUTH_PROVIDER=static", "KEY_FILE="+keyFile, "ISSUER_BASE_URL="+issuer, "AUDIENCE="+audience,
		"PUBLIC_URL="+lb, "TRUSTED_PROXIES=127.0.0.1", "AUTH_FAILURE_LIMIT=off", "METRICS_ADDR=off", "MESSAGES_PER_USER=1000000", "DPOP_IAT_LEEWAY=2",
		"SHUTDOWN_DELAY="+o.delay.String())
	instance := func(name string, n int) (*proc, error) {
		return procs.start(name, filepath.Join(o.dir, fmt.Sprintf("api-%s-%d.log", name, n)), o.api, nil,
			append(slices.Clone(env), fmt.Sprintf("ADDR=127.0.0.1:%d", ports[name])))
	}
	for _, name := range []string{"a", "b"} {
		if _, err := instance(name, 1); err != nil {
			return false, err
		}
	}
	cfgPath := filepath.Join(o.dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(haproxyConfig(lbPort, statsPort, ports)), 0o644); err != nil {
		return false, err
	}
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		haproxy = "/usr/sbin/haproxy"
	}
	if _, err := procs.start("haproxy", filepath.Join(o.dir, "haproxy.log"), haproxy, []string{"-db", "-f", cfgPath}, nil); err != nil {
		return false, err
	}
	stats := &haproxyStats{url: fmt.Sprintf("http://127.0.0.1:%d/stats;csv", statsPort)}
	if err := stats.waitUp(ctx, 30*time.Second, "a", "b"); err != nil {
		return false, fmt.Errorf("%w (logs in %s)", err, o.dir)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go stats.watch(watchCtx)

	fmt.Printf("cluster: instances a (:%d) and b (:%d) on PostgreSQL and Redis, behind haproxy on %s\n", ports["a"], ports["b"], lb)
	events := []*event{{instance: "b", signal: syscall.SIGKILL, after: o.killAt}}
	if o.termAt > 0 {
		events = append(events, &event{instance: "a", signal: syscall.SIGTERM, after: o.termAt})
	}
	fmt.Printf("load: %v at %d requests/s from %d clients", o.duration, o.rate, o.clients)
	for _, e := range events {
		fmt.Printf("; %s gets %s at +%v", e.instance, signalName(e.signal), e.after)
		if e.signal == syscall.SIGTERM && o.delay > 0 {
			fmt.Printf(" (SHUTDOWN_DELAY %v)", o.delay)
		}
	}
	fmt.Printf(", each started again %v later\n", o.down)

	clients, err := newClients(o.clients, minter, lb, ports)
	if err != nil {
		return false, err
	}
	time.Sleep(time.Until(redisStarted.Add(3 * time.Second)))
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			c.run(ctx, start, start.Add(o.duration), time.Duration(o.clients)*time.Second/time.Duration(o.rate))
		})
	}

	// Each instance's stop and return.
	var ready sync.WaitGroup
	for _, e := range events {
		select {
		case <-time.After(time.Until(start.Add(e.after))):
		case <-ctx.Done():
			return false, ctx.Err()
		}
		e.at = time.Now()
		if e.exit, err = procs.stop(e.instance, e.signal); err != nil {
			return false, err
		}
		e.exited = time.Now()
		time.Sleep(o.down)
		if _, err := instance(e.instance, 2); err != nil {
			return false, err
		}
		e.restarted = time.Now()
		ready.Go(func() {
			e.ready = pollReady(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[e.instance]), 30*time.Second)
		})
	}
	wg.Wait()
	ready.Wait()
	stopWatch()

	return report(ctx, start, clients, stats, events, minter, lb), nil
}

// event is an instance's stop and return.
type event struct {
	instance string
	signal   syscall.Signal
	after    time.Duration // from the start of the load

	at        time.Time // the signal was sent
	exit      error     // how the process ended (nil: status 0)
	exited    time.Time
	restarted time.Time
	ready     time.Time // its /readyz answered 200
}

func signalName(s syscall.Signal) string {
	if s == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// newIssuer makes a signing key (in the development issuer's key file
// format, signing the same RS256 at+jwt tokens) and writes its public half
// as the JWKS the instances' static provider reads.
func newIssuer(dir string) (*devissuer.Minter, string, error) {
	keys, err := devissuer.OpenKeys(filepath.Join(dir, "issuer"), nil)
	if err != nil {
		return nil, "", err
	}
	jwks, err := keys.JWKS()
	if err != nil {
		return nil, "", err
	}
	keyFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(keyFile, jwks, 0o644); err != nil {
		return nil, "", err
	}
	return &devissuer.Minter{Issuer: issuer, Audience: audience, Keys: keys}, keyFile, nil
}

// freePort returns a loopback port nothing listens on now.
func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// haproxyConfig is the load balancer: round robin over the two instances,
// each health-checked on /readyz every 500 ms (2 failures take it out, 2
// successes put it back), marked down at once on a refused connection,
// and a request whose connection failed sent to the other instance.
// X-Forwarded-For carries the client's address (option forwardfor), which
// the instances believe from haproxy (TRUSTED_PROXIES) for their failure
// limit. X-Served-By names the instance that answered. docs/deploy.md
// shows it.
func haproxyConfig(lbPort, statsPort int, ports map[string]int) string {
	return fmt.Sprintf(`global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 35s
    timeout http-request 10s
    timeout check 2s
    retries 2
    option redispatch
    option forwardfor

frontend api
    bind 127.0.0.1:%d
    default_backend api

backend api
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host api
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down
    http-response set-header X-Served-By %%[srv_name]
    server a 127.0.0.1:%d check
    server b 127.0.0.1:%d check

listen stats
    bind 127.0.0.1:%d
    stats enable
    stats uri /stats
`, lbPort, ports["a"], ports["b"], statsPort)
}

// startRedis starts a throwaway redis-server and returns its URL.
func startRedis(procs *procSet, dir string) (string, error) {
	port := freePort()
	if _, err := procs.start("redis", filepath.Join(dir, "redis.log"), "redis-server",
		[]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}, nil); err != nil {
		return "", err
	}
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
			return "redis://" + addr + "/0", nil
		}
	}
	return "", fmt.Errorf("redis-server on %s did not answer PING (log in %s)", addr, dir)
}

// pollReady polls url until it answers 200 and returns when it did (zero
// if it never did).
func pollReady(ctx context.Context, url string, limit time.Duration) time.Time {
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(limit); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return time.Now()
		}
	}
	return time.Time{}
}

// proc is a child process.
type proc struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	exit error // cmd.Wait's, once done is closed
}

// procSet holds the children by name; all are killed at the end.
type procSet struct {
	mu    sync.Mutex
	procs map[string]*proc
}

func (s *procSet) start(name, logPath, path string, args, env []string) (*proc, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	// Killed with this program, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { p.exit = cmd.Wait(); log.Close(); close(p.done) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.procs == nil {
		s.procs = map[string]*proc{}
	}
	s.procs[name] = p
	return p, nil
}

// stop sends sig to the named process and waits for its end; exit is how
// it ended (nil: status 0).
func (s *procSet) stop(name string, sig syscall.Signal) (exit error, err error) {
	s.mu.Lock()
	p := s.procs[name]
	s.mu.Unlock()
	if err := p.cmd.Process.Signal(sig); err != nil {
		return nil, fmt.Errorf("signalling %s: %w", name, err)
	}
	<-p.done
	return p.exit, nil
}

// stopAll ends every process: SIGTERM, then SIGKILL after 5 s.
func (s *procSet) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range s.procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// haproxyStats reads haproxy's CSV statistics (each server's state).
type haproxyStats struct {
	url string

	mu      sync.Mutex
	changes []stateChange
}

type stateChange struct {
	at     time.Time
	server string
	status string // UP, DOWN, "DOWN 1/2", …
}

// read returns each server's status.
func (h *haproxyStats) read() (map[string]string, error) {
	rows, err := h.rows()
	if err != nil {
		return nil, err
	}
	states := map[string]string{}
	for server, row := range rows {
		states[server] = row["status"]
	}
	return states, nil
}

// rows returns the statistics of each server of the backend by column name.
func (h *haproxyStats) rows() (map[string]map[string]string, error) {
	client := &http.Client{Timeout: time.Second}
	resp, err := client.Get(h.url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 1 {
		return nil, fmt.Errorf("haproxy stats: %v", err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimPrefix(name, "# ")] = i
	}
	servers := map[string]map[string]string{}
	for _, row := range rows[1:] {
		if row[col["pxname"]] != "api" || row[col["svname"]] == "BACKEND" || row[col["svname"]] == "FRONTEND" {
			continue
		}
		m := map[string]string{}
		for name, i := range col {
			if i < len(row) {
				m[name] = row[i]
			}
		}
		servers[row[col["svname"]]] = m
	}
	return servers, nil
}

// waitUp waits until haproxy has every named server UP.
func (h *haproxyStats) waitUp(ctx context.Context, limit time.Duration, servers ...string) error {
	var last map[string]string
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		states, err := h.read()
		if err != nil {
			continue
		}
		last = states
		up := 0
		for _, s := range servers {
			if states[s] == "UP" {
				up++
			}
		}
		if up == len(servers) {
			return nil
		}
	}
	return fmt.Errorf("haproxy did not see every instance UP within %v: %v", limit, last)
}

// watch notes every change of a server's state, every 50 ms, until ctx ends.
func (h *haproxyStats) watch(ctx context.Context) {
	last := map[string]string{}
	for ctx.Err() == nil {
		if states, err := h.read(); err == nil {
			now := time.Now()
			h.mu.Lock()
			for server, status := range states {
				if last[server] != status {
					h.changes = append(h.changes, stateChange{now, server, status})
					last[server] = status
				}
			}
			h.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// first returns when server first reached status after t (zero if never).
func (h *haproxyStats) first(server, status string, after time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.changes {
		if c.server == server && c.status == status && c.at.After(after) {
			return c.at
		}
	}
	return time.Time{}
}

// client is one user of the API with its own bearer token, DPoP key and
// DPoP-bound token, keeping what it was told.
type client struct {
	http     *http.Client
	lb       string
	direct   map[string]string // instance name: its own base URL, for replays
	bearer   string
	dpopTok  string
	key      *dpop.Signer
	rng      *rand.Rand
	mine     []string // acknowledged (201), not yet asked to be deleted
	results  []result
	acked    []string // every id a 201 named
	deleted  []string // ids a 204 deleted
	unknownD []string // ids whose delete got no answer from the API
	unknownP int      // posts that got no answer from the API
}

// result is one request's outcome.
type result struct {
	at     time.Time
	kind   string // list, post, delete, dpop, replay
	status int    // 0: no HTTP answer
	server string // X-Served-By (for replays: the instance it was sent to)
	detail string // the transport error, or the DPoP error for replays
}

func newClients(n int, m *devissuer.Minter, lb string, ports map[string]int) ([]*client, error) {
	transport := &http.Transport{MaxIdleConnsPerHost: 2 * n, IdleConnTimeout: 10 * time.Second}
	direct := map[string]string{}
	for name, port := range ports {
		direct[name] = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	var cs []*client
	for i := range n {
		sub := fmt.Sprintf("cluster|client-%d", i)
		bearer, _, err := m.AccessToken(devissuer.Grant{Subject: sub, ClientID: "cluster", TTL: time.Hour,
			Scopes: []string{"read:messages", "write:messages"}})
		if err != nil {
			return nil, err
		}
		key, err := dpop.GenerateSigner("ES256")
		if err != nil {
			return nil, err
		}
		bound, _, err := m.AccessToken(devissuer.Grant{Subject: sub, ClientID: "cluster", TTL: time.Hour,
			Scopes: []string{"read:messages"}, JKT: key.JKT()})
		if err != nil {
			return nil, err
		}
		cs = append(cs, &client{
			http: &http.Client{Transport: transport, Timeout: 10 * time.Second},
			lb:   lb, direct: direct, bearer: bearer, dpopTok: bound, key: key,
			rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))),
		})
	}
	return cs, nil
}

// run sends requests every interval until end: 40% lists, 25% posts,
// 10% deletes of its own posts, 25% DPoP requests, each accepted one
// followed by a replay of its proof to the other instance.
func (c *client) run(ctx context.Context, start, end time.Time, interval time.Duration) {
	// Clients start spread over one interval, not all at once.
	next := start.Add(time.Duration(c.rng.Int64N(int64(interval))))
	for ctx.Err() == nil {
		time.Sleep(time.Until(next))
		now := time.Now()
		if !now.Before(end) {
			return
		}
		next = next.Add(interval)
		if next.Before(now) { // behind: do not catch up in a burst
			next = now
		}
		switch r := c.rng.Float64(); {
		case r < 0.40:
			c.list()
		case r < 0.65 || (r < 0.75 && len(c.mine) == 0):
			c.post()
		case r < 0.75:
			c.delete()
		default:
			c.dpopAndReplay()
		}
	}
}

func (c *client) do(kind, method, url, auth, proof, body string) (*http.Response, []byte, result) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", auth)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res := result{kind: kind}
	resp, err := c.http.Do(req)
	res.at = time.Now()
	if err != nil {
		res.detail = err.Error()
		c.results = append(c.results, res)
		return nil, nil, res
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		// The answer broke off: the client cannot tell what happened.
		res.detail = "reading the answer: " + err.Error()
		c.results = append(c.results, res)
		return nil, nil, res
	}
	res.status = resp.StatusCode
	res.server = resp.Header.Get("X-Served-By")
	c.results = append(c.results, res)
	return resp, b, res
}

func (c *client) list() {
	c.do("list", "GET", c.lb+"/api/messages?limit=20", "Bearer "+c.bearer, "", "")
}

func (c *client) post() {
	body := fmt.Sprintf(`{"text":"cluster %d"}`, c.rng.Int64())
	resp, b, res := c.do("post", "POST", c.lb+"/api/messages", "Bearer "+c.bearer, "", body)
	switch {
	case res.status == http.StatusCreated:
		var m struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.ID == "" || resp.Header.Get("Location") != "/api/messages/"+m.ID {
			panic(fmt.Sprintf("a 201 without a message id: %s", b))
		}
		c.acked = append(c.acked, m.ID)
		c.mine = append(c.mine, m.ID)
	case res.status == 0 || res.status == http.StatusBadGateway || res.status == http.StatusGatewayTimeout:
		c.unknownP++ // it may or may not have been stored
	}
}

func (c *client) delete() {
	i := c.rng.IntN(len(c.mine))
	id := c.mine[i]
	c.mine = slices.Delete(c.mine, i, i+1)
	_, _, res := c.do("delete", "DELETE", c.lb+"/api/messages/"+id, "Bearer "+c.bearer, "", "")
	switch res.status {
	case http.StatusNoContent:
		c.deleted = append(c.deleted, id)
	case 0, http.StatusBadGateway, http.StatusGatewayTimeout:
		c.unknownD = append(c.unknownD, id)
	}
	// A 404 is a lost post; report finds it, as the message is not listed.
}

func (c *client) dpopAndReplay() {
	proof, err := c.key.Proof("GET", c.lb+"/api/private", c.dpopTok, "", time.Now())
	if err != nil {
		panic(err)
	}
	_, _, res := c.do("dpop", "GET", c.lb+"/api/private", "DPoP "+c.dpopTok, proof, "")
	if res.status != http.StatusOK {
		return
	}
	other := "a"
	if res.server == "a" {
		other = "b"
	}
	resp, _, _ := c.do("replay", "GET", c.direct[other]+"/api/private", "DPoP "+c.dpopTok, proof, "")
	r := &c.results[len(c.results)-1]
	r.server = other
	if resp != nil {
		r.detail = resp.Header.Get("WWW-Authenticate")
	}
}

// expected is the status a request of each kind must get.
var expected = map[string]int{"list": 200, "post": 201, "delete": 204, "dpop": 200}

// report prints the figures and checks; it returns true if a check failed.
func report(ctx context.Context, start time.Time, clients []*client, stats *haproxyStats, events []*event, m *devissuer.Minter, lb string) (failed bool) {
	var all []result
	var acked, deleted, unknownD []string
	unknownP := 0
	for _, c := range clients {
		all = append(all, c.results...)
		acked = append(acked, c.acked...)
		deleted = append(deleted, c.deleted...)
		unknownD = append(unknownD, c.unknownD...)
		unknownP += c.unknownP
	}
	slices.SortFunc(all, func(a, b result) int { return a.at.Compare(b.at) })
	if len(all) == 0 {
		fmt.Println("FAIL: no request was sent")
		return true
	}

	byStatus := map[int]int{}
	byKind := map[string]int{}
	served := 0
	var errs []result
	replays := map[string]int{}
	for _, r := range all {
		if r.kind == "replay" {
			switch {
			case r.status == http.StatusUnauthorized && strings.Contains(r.detail, `error="invalid_dpop_proof"`):
				replays["refused"]++
			case r.status == http.StatusOK:
				replays["accepted"]++
			case r.status == 0:
				replays["not delivered (instance down)"]++
			default:
				replays[fmt.Sprintf("other (%d %s)", r.status, r.detail)]++
			}
			continue
		}
		byKind[r.kind]++
		if r.status != 0 {
			served++
			byStatus[r.status]++
		}
		if r.status != expected[r.kind] {
			errs = append(errs, r)
		}
	}
	since := func(from, at time.Time) string {
		if at.IsZero() {
			return "never"
		}
		return fmt.Sprintf("%+.3fs", at.Sub(from).Seconds())
	}

	fmt.Printf("\nrequests through haproxy: %d sent, %d answered (%s); by status: %s\n",
		len(all)-sumReplays(replays), served, formatCounts(byKind), formatStatus(byStatus))
	fmt.Printf("errors seen by clients: %d\n", len(errs))
	fmt.Printf("DPoP replays sent straight to the other instance: %d: %s\n", sumReplays(replays), formatCounts(replays))

	// Each error belongs to the last stop before it (a second of slack: a
	// request in flight when the signal went).
	owner := func(r result) int {
		i := -1
		for j, e := range events {
			if !r.at.Before(e.at.Add(-time.Second)) {
				i = j
			}
		}
		return i
	}
	if n := len(slices.DeleteFunc(slices.Clone(errs), func(r result) bool { return owner(r) >= 0 })); n > 0 {
		fmt.Printf("  %d errors before any instance stopped\n", n)
	}
	for i, e := range events {
		var mine []result
		for _, r := range errs {
			if owner(r) == i {
				mine = append(mine, r)
			}
		}
		ended := "exited with status 0"
		if e.exit != nil {
			ended = "ended: " + e.exit.Error()
		}
		fmt.Printf("%s %s at +%.3fs: %s %.3f s after; haproxy DOWN %s after; clients saw %d errors",
			e.instance, signalName(e.signal), e.at.Sub(start).Seconds(), ended, e.exited.Sub(e.at).Seconds(),
			since(e.at, stats.first(e.instance, "DOWN", e.at)), len(mine))
		if len(mine) > 0 {
			kinds := map[string]int{}
			for _, r := range mine {
				k := strconv.Itoa(r.status)
				if r.status == 0 {
					k = "no answer"
				}
				kinds[r.kind+" "+k]++
			}
			fmt.Printf(" (%s), from %s to %s after the signal: %.3f s", formatCounts(kinds),
				since(e.at, mine[0].at), since(e.at, mine[len(mine)-1].at), mine[len(mine)-1].at.Sub(mine[0].at).Seconds())
		}
		fmt.Println()
		for j, r := range mine {
			if j == 5 {
				fmt.Printf("    … %d more\n", len(mine)-5)
				break
			}
			fmt.Printf("    %s: %s %d %s\n", since(e.at, r.at), r.kind, r.status, r.detail)
		}
		var first time.Time
		for _, r := range all {
			if r.kind != "replay" && r.server == e.instance && r.at.After(e.restarted) {
				first = r.at
				break
			}
		}
		fmt.Printf("  started again %.3f s after the signal: /readyz 200 %s after its start, haproxy UP %s, first request served through haproxy %s (%s after the signal)\n",
			e.restarted.Sub(e.at).Seconds(), since(e.restarted, e.ready), since(e.restarted, stats.first(e.instance, "UP", e.restarted)),
			since(e.restarted, first), since(e.at, first))
		if first.IsZero() {
			fmt.Printf("FAIL: %s never took traffic again\n", e.instance)
			failed = true
		}
		if e.signal == syscall.SIGTERM && e.exit != nil {
			fmt.Printf("FAIL: %s did not exit with status 0 after SIGTERM\n", e.instance)
			failed = true
		}
	}

	// Every acknowledged post must be listed, unless a 204 deleted it.
	listed, err := listAll(ctx, m, lb)
	if err != nil {
		fmt.Printf("listing the messages afterwards: %v\n", err)
		return true
	}
	isDeleted := map[string]bool{}
	for _, id := range deleted {
		isDeleted[id] = true
	}
	unsure := map[string]bool{}
	for _, id := range unknownD {
		unsure[id] = true
	}
	lost, resurrected := 0, 0
	for _, id := range acked {
		switch {
		case isDeleted[id] && listed[id]:
			resurrected++
		case !isDeleted[id] && !unsure[id] && !listed[id]:
			lost++
			fmt.Printf("  LOST: %s was acknowledged with 201 and is not listed\n", id)
		}
	}
	fmt.Printf("acknowledged posts: %d (201), of them deleted with 204: %d, delete unanswered: %d; listed afterwards: %d messages in all\n",
		len(acked), len(deleted), len(unknownD), len(listed))
	fmt.Printf("acknowledged posts lost: %d; acknowledged deletes still listed: %d; posts without an answer (may or may not be stored): %d\n",
		lost, resurrected, unknownP)

	switch {
	case lost > 0:
		fmt.Println("FAIL: acknowledged posts were lost")
		failed = true
	case resurrected > 0:
		fmt.Println("FAIL: acknowledged deletes did not hold")
		failed = true
	}
	if replays["accepted"] > 0 {
		fmt.Println("FAIL: a DPoP proof was accepted twice")
		failed = true
	}
	if replays["refused"] == 0 {
		fmt.Println("FAIL: no replay reached the other instance: nothing was checked")
		failed = true
	}
	if !failed {
		fmt.Println("ok: nothing acknowledged lost, no replay accepted, every restarted instance took traffic again")
	}
	return failed
}

// listAll lists every message through the load balancer, page by page.
func listAll(ctx context.Context, m *devissuer.Minter, lb string) (map[string]bool, error) {
	tok, _, err := m.AccessToken(devissuer.Grant{Subject: "cluster|checker", TTL: time.Hour, Scopes: []string{"read:messages"}})
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	cursor := ""
	for {
		target := lb + "/api/messages?limit=100"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", target, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var page struct {
			Messages []struct {
				ID string `json:"id"`
			} `json:"messages"`
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("GET %s: %d %v", target, resp.StatusCode, err)
		}
		for _, msg := range page.Messages {
			ids[msg.ID] = true
		}
		if page.NextCursor == "" {
			return ids, nil
		}
		cursor = page.NextCursor
	}
}

func sumReplays(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func formatCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func formatStatus(m map[int]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
