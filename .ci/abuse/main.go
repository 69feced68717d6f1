// Command abuse runs every abuse of the API's bounds against one server,
// each alone and then all at once, beside a legitimate client, and checks
// that the client's requests keep being answered, that no acknowledged
// write is lost, that no used DPoP proof is ever accepted again, that the
// server's resident memory stays under its MEMORY_LIMIT, and that the
// server is still running and ready at the end. Run it with
// .ci/abuse/run, which starts a throwaway PostgreSQL first; the figures
// are in docs/performance.md.
//
//	.ci/abuse/run                                   # every phase, 15 s each
//	.ci/abuse/run -phases alone,dpop,all -duration 10s
//
// The server: `api -dev` (tokens from the development issuer's keys, as
// `api token` makes them) with DATABASE_URL (PostgreSQL, from the
// environment), REDIS_URL (a throwaway redis-server started here, with
// maxmemory-policy noeviction) and MEMORY_LIMIT (-memory-limit), default
// settings otherwise, on free loopback ports (or four from -ports).
//
// The legitimate client (legit.go), in a process of its own (child.go),
// from 127.0.0.1: -legit-conns users, each with its own DPoP key and
// bound token, calling GET /api/private and GET /api/messages, then POST
// /api/messages and DELETE of the message it posted, each request with a
// fresh proof, as fast as the answers come;
// and -anon-conns anonymous users calling GET /api/public. It measures
// requests a second, p50 and p99, and every answer other than the one
// expected. Every acknowledged post (201) must then be found by its
// DELETE (204); a 404 is a lost write.
//
// The phases (-phases), each measuring the legitimate client for
// -duration beside:
//
//	alone    nothing (the reference; run first and last)
//	headers  MAX_CONNS less -reserve connections (anonymous) each sending
//	         an unfinished request head as large as the server reads
//	lists    as many connections asking for the newest page of 100 of the
//	         largest messages (-list-tokens tokens) and never reading it
//	rsa8192  GET /api/private with a valid token and a DPoP proof signed
//	         with an RSA-8192 key (half with a token bound to another
//	         key, half with an unbound bearer token sent as DPoP)
//	forged   forged bearer tokens with the issuer's real kid, from
//	         127.0.0.2: afterwards a valid token from 127.0.0.2 must get
//	         429 too_many_failures (blocked), while 127.0.0.1 never does
//	dpop     one DPoP key holder sending fresh proofs until its share of
//	         the replay cache refuses it (unmeasured), then at -dpop-rate
//	         beside the client; afterwards a sample of the used proofs of
//	         the client and of the flooder is sent again, each must be
//	         refused
//	author   one author at its quota (MESSAGES_PER_USER) posting over
//	         -author-conns connections (PostgreSQL's per-author gate)
//	oauth    anonymous POST /oauth/token to the development issuer with
//	         proofs made with RSA-8192 and RSA-4096 keys (a wrong secret,
//	         an unknown client); afterwards the machine client's DPoP
//	         token request from 127.0.0.1 must get 200
//	all      all of them at once (the two crowds half each, a new DPoP
//	         flooder), then the forged, dpop and oauth checks again
//
// Every abuser comes from a loopback address of its own (attacks.go).
// The server's VmRSS is read every 50 ms throughout, and VmHWM at the
// end. It prints the figures, and exits 1 only on a clear failure: RSS
// passed MEMORY_LIMIT; a replayed proof was accepted; an acknowledged
// write was lost; the server died or is not ready; in some phase, under
// -min-success of the token holders' or of the anonymous users' requests
// got the answer expected (a 503 "retry shortly" counts against it); the
// forger's block reached the client's address; or the machine client
// could not get a token beside the /oauth/token flood. Throughput is
// reported as a ratio to the "alone" phases, not checked: on a shared
// machine its load moves the ratio (-min-fraction makes it a check, for
// a machine of its own).
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
)

var (
	apiBin         = flag.String("api", "", "the API binary (default: go build ./cmd/api)")
	phases         = flag.String("phases", "alone,headers,lists,rsa8192,forged,dpop,author,oauth,all,alone", "comma-separated phases")
	duration       = flag.Duration("duration", 15*time.Second, "how long the legitimate client is measured in each phase")
	legitConns     = flag.Int("legit-conns", 8, "the legitimate client's token-holding users, each on its own connection")
	anonConns      = flag.Int("anon-conns", 2, "the legitimate client's anonymous users (GET /api/public), each on its own connection")
	memoryLimit    = flag.String("memory-limit", "1GiB", "the server's MEMORY_LIMIT")
	reserve        = flag.Int("reserve", 400, "connections of MAX_CONNS left to everyone but the crowds (headers, lists)")
	listTokens     = flag.Int("list-tokens", 1, "distinct tokens (subjects) of the list crowd")
	maxHead        = flag.Int("max-header-bytes", 40<<10, "the server's MaxHeaderBytes (httpapi.MaxHeaderBytes)")
	rsaRate        = flag.Int("rsa-rate", 800, "RSA-8192 proofs a second (0: as fast as answers come)")
	rsaConns       = flag.Int("rsa-conns", 32, "their connections")
	forgedRate     = flag.Int("forged-rate", 2000, "forged tokens a second (0: as fast as answers come)")
	forgedConns    = flag.Int("forged-conns", 64, "their connections")
	dpopRate       = flag.Int("dpop-rate", 4800, "the DPoP flooder's proofs a second once its share is full (0: as fast as answers come)")
	dpopConns      = flag.Int("dpop-conns", 32, "its connections")
	authorConns    = flag.Int("author-conns", 64, "the flooding author's connections (as fast as answers come)")
	oauthRate      = flag.Int("oauth-rate", 800, "anonymous /oauth/token requests a second (0: as fast as answers come)")
	oauthConns     = flag.Int("oauth-conns", 32, "their connections")
	replaySample   = flag.Int("replay-sample", 100, "used proofs of the client, and of the flooder, sent again")
	minFraction    = flag.Float64("min-fraction", 0, "the least fraction of their throughput alone the legitimate token holders must keep in the all phase (0: reported, not checked)")
	minSuccess     = flag.Float64("min-success", 0.90, "the least share of the legitimate requests (token holders', anonymous) answered as expected in every phase")
	redisMaxMemory = flag.String("redis-maxmemory", "1gb", "the throwaway Redis's maxmemory")
	portBase       = flag.Int("ports", 0, "the first of 4 consecutive loopback ports: Redis, the API, the development issuer, the metrics (0: free ports)")
	keep           = flag.Bool("keep", false, "keep the temporary folder (the dev directory, Redis's log)")
)

func main() {
	flag.Parse()
	if *legitChild != "" {
		legitChildMain()
		return
	}
	for _, p := range strings.Split(*phases, ",") {
		if !slices.Contains([]string{"alone", "headers", "lists", "rsa8192", "forged", "dpop", "author", "oauth", "all"}, p) {
			fmt.Fprintf(os.Stderr, "abuse: unknown phase %q in -phases (-h lists them)\n", p)
			os.Exit(2)
		}
	}
	databaseURL := os.Getenv("DATABASE_URL")
	if !strings.HasPrefix(databaseURL, "postgres") {
		fmt.Fprintln(os.Stderr, "abuse: DATABASE_URL must name a PostgreSQL database; run .ci/abuse/run, which starts one")
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "abuse-")
	check(err)
	if *keep {
		fmt.Println("temporary folder:", tmp)
	} else {
		removeOnExit = tmp
		defer os.RemoveAll(tmp)
	}
	if *apiBin == "" {
		*apiBin = filepath.Join(tmp, "api")
		if out, err := exec.Command("go", "build", "-o", *apiBin, "./cmd/api").CombinedOutput(); err != nil {
			fail("go build: %v\n%s", err, out)
		}
	}
	redis, redisURL := startRedis(tmp)
	defer stopProcess(redis)
	s := startAPI(*apiBin, tmp, []string{"DATABASE_URL=" + databaseURL, "REDIS_URL=" + redisURL, "MEMORY_LIMIT=" + *memoryLimit})
	defer stopProcess(s.cmd)
	limitKB := s.planInt("memory_limit") >> 10
	maxConns := int(s.planInt("max_conns"))
	fmt.Printf("api -dev on %s (issuer %s): MEMORY_LIMIT %d MiB, MAX_CONNS %d, answer budget %.1f MiB; PostgreSQL, Redis %s; %d cores, load average %s\n",
		s.api, s.issuer, limitKB>>10, maxConns, float64(s.planInt("answer_budget"))/(1<<20), redisURL, runtime.NumCPU(), loadavg())

	r := newRig(s, maxConns)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rss := &rssSampler{}
	rss.start(ctx, s.cmd.Process.Pid)
	r.rss = rss
	r.redis = redis.Process.Pid

	var results []*phaseResult
	list := strings.Split(*phases, ",")
	for i, p := range list {
		results = append(results, r.run(ctx, p, i == len(list)-1))
	}
	hwm := status(s.cmd.Process.Pid, "VmHWM")
	report(results, r, limitKB, hwm)
}

// rig is the server and what the phases need of it.
type rig struct {
	s        *server
	minter   *devissuer.Minter
	maxConns int
	rss      *rssSampler
	redis    int // its pid
	// Made once: keys and tokens of the abusers.
	key8192, key4096 *rsa.PrivateKey
	listTokens       []string
	validBearer      string
	authorToken      string
}

// phaseResult is what one phase measured.
type phaseResult struct {
	name      string
	legit     *legitResult
	abusers   []abuserResult
	peakKB    int64
	cpu       float64 // the server's cores, while the client was measured
	selfCPU   float64 // this program's (the load) cores, meanwhile
	redisCPU  float64 // Redis's cores, meanwhile
	opened    time.Duration
	notes     []string
	failures  []string
	replayed  int // used proofs sent again
	accepted  int // ... and accepted: must be 0
	errorLogs int
}

type abuserResult struct {
	name    string
	sent    int64
	answers map[string]int
}

func newRig(s *server, maxConns int) *rig {
	r := &rig{s: s, maxConns: maxConns, minter: minterFor(s.dir, s.issuer)}
	var err error
	r.key8192 = readRSAKey("adapters/dpop/testdata/rsa8192.pem")
	r.key4096, err = rsa.GenerateKey(rand.Reader, 4096)
	check(err)
	for i := range *listTokens {
		r.listTokens = append(r.listTokens, r.bearer(fmt.Sprintf("list-crowd-%d", i+1), "read:messages"))
	}
	r.validBearer = r.bearer("forger", "read:messages")
	r.authorToken = r.bearer("author-flooder", "read:messages", "write:messages")

	// A Redis that has just started cannot vouch for proofs made before
	// it: DPoP requests get 503 for DPOP_IAT_LEEWAY (30 s) after its start.
	key, tok := bindToken(r.minter, "readiness", "read:messages")
	for start := time.Now(); ; time.Sleep(time.Second) {
		proof, err := key.Proof("GET", "http://"+s.api+"/api/private", tok, "", time.Now())
		check(err)
		c, err := dial(legitAddr, s.api)
		check(err)
		a, err := c.do(request("GET", "/api/private", s.api, nil, "Authorization", "DPoP "+tok, "DPoP", proof), false)
		c.close()
		if err == nil && a.status == 200 {
			fmt.Printf("DPoP requests accepted %.0f s after the start\n", time.Since(start).Seconds())
			break
		}
		if time.Since(start) > 90*time.Second {
			fail("DPoP requests still refused after 90 s: %v %s", err, a.key())
		}
	}

	// The largest page: 100 messages of "x" and 499 U+2028 (white space,
	// escaped as 6 bytes in JSON), 318 KB a page of 100.
	big := []byte(`{"text":"x` + strings.Repeat(`\u2028`, 499) + `"}`)
	seeder := r.bearer("seeder", "write:messages")
	r.post(seeder, big, 100)
	// The flooding author at its quota.
	r.post(r.authorToken, []byte(`{"text":"seed"}`), 1000)
	return r
}

func (r *rig) bearer(sub string, scopes ...string) string {
	tok, _, err := r.minter.AccessToken(devissuer.Grant{Subject: sub, ClientID: devissuer.DefaultSPAClient,
		Scopes: scopes, Permissions: scopes, TTL: time.Hour})
	check(err)
	return tok
}

// post posts body n times with token, over 8 connections; each must get 201.
func (r *rig) post(token string, body []byte, n int) {
	req := request("POST", "/api/messages", r.s.api, body, "Authorization", "Bearer "+token, "Content-Type", "application/json")
	var wg sync.WaitGroup
	var mu sync.Mutex
	left := n
	for range 8 {
		wg.Go(func() {
			c, err := dial(legitAddr, r.s.api)
			check(err)
			defer c.close()
			for {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				a, err := c.do(req, false)
				check(err)
				if a.status != 201 {
					fail("seeding: got %s, want 201", a.key())
				}
			}
		})
	}
	wg.Wait()
}

// run runs one phase.
func (r *rig) run(ctx context.Context, name string, last bool) *phaseResult {
	s := r.s
	res := &phaseResult{name: name}
	fmt.Printf("\n== %s (load average %s)\n", name, loadavg())
	if err := s.alive(); err != nil {
		fail("the server before the %s phase: %v; its log:\n%s", name, err, s.logs.kept())
	}
	crowdN := r.maxConns - *reserve
	var abusers []abuser
	var crowds []*crowd
	var flooder *dpopFlooder
	switch name {
	case "alone":
	case "headers":
		crowds = append(crowds, headerCrowd(ctx, s.api, crowdN, *maxHead))
	case "lists":
		crowds = append(crowds, listCrowd(ctx, s.api, crowdN, r.listTokens))
	case "rsa8192":
		abusers = append(abusers, rsaFlood(ctx, s, r.minter, r.key8192))
	case "forged":
		abusers = append(abusers, forgedFlood(ctx, s, r.validBearer))
	case "dpop":
		flooder = newDPoPFlooder(r.minter)
		// Unmeasured: the flooder alone, as fast as it can, until its share
		// of the replay cache is full.
		fill := flooder.flood(ctx, s, *dpopConns, 0)
		start := time.Now()
		for !flooder.refused() && time.Since(start) < 120*time.Second {
			time.Sleep(50 * time.Millisecond)
		}
		fill.stop()
		sent, answers := fill.report()
		res.notes = append(res.notes, fmt.Sprintf("filling its share: %d proofs in %.1f s (%s)", sent, time.Since(start).Seconds(), formatAnswers(answers)))
		if !flooder.refused() {
			res.notes = append(res.notes, "the flooder was never refused while filling its share")
		}
		abusers = append(abusers, flooder.flood(ctx, s, *dpopConns, *dpopRate))
	case "author":
		abusers = append(abusers, authorFlood(ctx, s, r.authorToken))
	case "oauth":
		abusers = append(abusers, oauthFlood(ctx, s, r.key8192, r.key4096))
	case "all":
		crowds = append(crowds, headerCrowd(ctx, s.api, crowdN/2, *maxHead), listCrowd(ctx, s.api, crowdN-crowdN/2, r.listTokens))
		flooder = newDPoPFlooder(r.minter)
		abusers = append(abusers, rsaFlood(ctx, s, r.minter, r.key8192), forgedFlood(ctx, s, r.validBearer),
			flooder.flood(ctx, s, *dpopConns, *dpopRate), authorFlood(ctx, s, r.authorToken), oauthFlood(ctx, s, r.key8192, r.key4096))
	default:
		fail("unknown phase %q", name)
	}
	for _, c := range crowds {
		abusers = append(abusers, c)
	}
	if len(crowds) > 0 {
		res.opened = waitOpen(60*time.Second, crowds...)
		for _, c := range crowds {
			if c.open.Load() < int64(c.n) {
				res.notes = append(res.notes, fmt.Sprintf("%s: %d of %d connections open after %.0f s", c.label, c.open.Load(), c.n, res.opened.Seconds()))
			}
		}
	}
	if len(abusers) > 0 {
		time.Sleep(time.Second) // under way before the client starts
	}

	before := s.scrape()
	errs0 := s.logs.count("ERROR")
	msgs0 := s.logs.messagesSince(nil)
	r.rss.phase.Store(0)
	cpu0, self0, redis0 := cpuTime(s.cmd.Process.Pid), cpuTime(os.Getpid()), cpuTime(r.redis)
	res.legit = runLegitProcess(s, *duration)
	cores := func(t0 time.Duration, pid int) float64 {
		return (cpuTime(pid) - t0).Seconds() / res.legit.elapsed.Seconds()
	}
	res.cpu, res.selfCPU, res.redisCPU = cores(cpu0, s.cmd.Process.Pid), cores(self0, os.Getpid()), cores(redis0, r.redis)

	// Checks while the abuse goes on.
	if name == "forged" || name == "all" {
		note, ok := r.blockedCheck()
		res.notes = append(res.notes, note)
		if !ok {
			res.failures = append(res.failures, note)
		}
	}
	if name == "oauth" || name == "all" {
		note, ok := r.tokenCheck()
		res.notes = append(res.notes, note)
		if !ok {
			res.failures = append(res.failures, note)
		}
	}
	if flooder != nil {
		res.notes = append(res.notes, r.replayCheck(res, "the client's", "127.0.1", res.legit.used))
		flooder.mu.Lock()
		used := slices.Clone(flooder.used)
		flooder.mu.Unlock()
		res.notes = append(res.notes, r.replayCheck(res, "the flooder's", "127.0.2", used))
	}
	for _, a := range abusers {
		a.stop()
		sent, answers := a.report()
		res.abusers = append(res.abusers, abuserResult{a.name(), sent, answers})
	}
	res.peakKB = r.rss.phase.Load()
	after := s.scrape()
	res.errorLogs = s.logs.count("ERROR") - errs0
	if m := s.logs.messagesSince(msgs0); len(m) > 0 {
		res.notes = append(res.notes, "server WARN and ERROR lines: "+topAnswers(m, 6))
	}
	res.notes = append(res.notes, "server answers by status: "+formatFloats(after.byLabel(before, "http_requests_total", "status")),
		"auth outcomes: "+formatFloats(after.byLabel(before, "auth_outcomes_total", "outcome")))
	res.notes = append(res.notes, "server-side durations: "+slowShare(before, after))
	for _, m := range []string{"http_connections_refused_total", "http_connections_reaped_total", "http_answer_budget_refused_total",
		"http_requests_too_many_header_fields_total", "go_gc_duration_seconds_count"} {
		if d := after.delta(before, m); d != 0 {
			res.notes = append(res.notes, fmt.Sprintf("%s +%.0f", m, d))
		}
	}
	r.print(res)

	// Until the crowds' connections are gone (the server closes unfinished
	// heads after its 5 s header timeout).
	for start := time.Now(); !last && time.Since(start) < 45*time.Second; time.Sleep(250 * time.Millisecond) {
		if s.scrape()["http_connections_open"] <= 50 {
			break
		}
	}
	return res
}

// blockedCheck sends a valid token from the forger's address and from
// the client's: the first must be refused unchecked (429
// too_many_failures), the second accepted.
func (r *rig) blockedCheck() (string, bool) {
	req := request("GET", "/api/private", r.s.api, nil, "Authorization", "Bearer "+r.validBearer)
	var got []string
	for _, from := range []string{forgedAddr, legitAddr} {
		c, err := dial(from, r.s.api)
		if err != nil {
			got = append(got, from+": "+shortErr(err))
			continue
		}
		a, err := c.do(req, false)
		c.close()
		if err != nil && err != errClosing {
			got = append(got, from+": "+shortErr(err))
			continue
		}
		got = append(got, from+": "+a.key())
	}
	ok := got[0] == forgedAddr+": 429 too_many_failures" && got[1] == legitAddr+": 200"
	verdict := "as expected"
	if !ok {
		verdict = "NOT as expected (want 429 too_many_failures, then 200)"
	}
	return "a valid token from the forger's address and from the client's: " + strings.Join(got, "; ") + " — " + verdict, ok
}

// tokenCheck asks the development issuer for a DPoP-bound token as its
// machine client, from the legitimate client's address: it must get 200
// however many proofs the anonymous flood sent.
func (r *rig) tokenCheck() (string, bool) {
	_, port, _ := strings.Cut(r.s.issuer, ":")
	host := "localhost:" + port
	key, err := dpop.GenerateSigner("ES256")
	check(err)
	proof, err := key.Proof("POST", "http://"+host+"/oauth/token", "", "", time.Now())
	check(err)
	body := []byte("grant_type=client_credentials&client_id=" + devissuer.DefaultMachine + "&client_secret=" + devissuer.DefaultMachineToken +
		"&audience=" + devissuer.DefaultAudience)
	req := request("POST", "/oauth/token", host, body, "Content-Type", "application/x-www-form-urlencoded", "DPoP", proof)
	got := ""
	c, err := dial(legitAddr, r.s.issuer)
	if err == nil {
		var a answer
		a, err = c.do(req, false)
		c.close()
		if err == nil || err == errClosing {
			got, err = a.key(), nil
		}
	}
	if err != nil {
		got = shortErr(err)
	}
	note := "a DPoP token request from the machine client, from the client's address: " + got
	if got != "200" {
		return note + " — NOT as expected (want 200)", false
	}
	return note + " — as expected", true
}

// replayCheck sends used again and records what came back.
func (r *rig) replayCheck(res *phaseResult, whose, base string, used []usedProof) string {
	if len(used) == 0 {
		return fmt.Sprintf("replay of %s used proofs: none to send", whose)
	}
	if len(used) > *replaySample {
		used = used[:*replaySample]
	}
	accepted, answers := replay(r.s, base, used)
	res.replayed += len(used)
	res.accepted += accepted
	return fmt.Sprintf("replay of %d of %s used proofs (from %s.x): %d accepted; %s", len(used), whose, base, accepted, formatAnswers(answers))
}

func (r *rig) print(res *phaseResult) {
	l := res.legit
	fmt.Printf("legitimate client: token holders %.0f req/s, p50 %s, p99 %s, %.2f %% as expected; anonymous %.0f req/s, %.2f %% as expected%s\n",
		l.rate(), ms(percentile(l.all, 0.5)), ms(percentile(l.all, 0.99)), 100*l.success(false), l.anonRate(), 100*l.success(true), errorList(l.errors))
	fmt.Printf("  writes: %d acknowledged, %d lost, %d not shown present\n", l.acked, l.lost, l.unverified)
	for _, k := range append(legitKinds, struct {
		name string
		want int
	}{"public", 200}) {
		d := l.took[k.name]
		fmt.Printf("  %-8s %7d ok, p50 %s, p99 %s\n", k.name, len(d), ms(percentile(d, 0.5)), ms(percentile(d, 0.99)))
	}
	for _, a := range res.abusers {
		fmt.Printf("abuser %s: %d sent; %s\n", a.name, a.sent, formatAnswers(a.answers))
	}
	fmt.Printf("server: %.2f cores, peak RSS %d MB, %d ERROR log lines; the abusers %.2f cores, the legitimate client %.2f, Redis %.2f\n",
		res.cpu, res.peakKB>>10, res.errorLogs, res.selfCPU, l.cpu.Seconds()/l.elapsed.Seconds(), res.redisCPU)
	for _, n := range res.notes {
		fmt.Println("  " + n)
	}
}

// report prints the summary and exits 1 when a check failed.
func report(results []*phaseResult, r *rig, limitKB, hwmKB int64) {
	var ref, anonRef float64
	n := 0
	for _, p := range results {
		if p.name == "alone" {
			ref += p.legit.rate()
			anonRef += p.legit.anonRate()
			n++
		}
	}
	if n > 0 {
		ref, anonRef = ref/float64(n), anonRef/float64(n)
	}
	fmt.Printf("\n%d token-holding and %d anonymous legitimate users (%s), %s per phase; MEMORY_LIMIT %d MiB; load average %s\n",
		*legitConns, *anonConns, legitAddr, *duration, limitKB>>10, loadavg())
	fmt.Printf("%-9s %9s %7s %9s %9s %8s | %9s %7s %9s %8s | %8s %6s %5s\n", "phase", "token/s", "× alone", "p50", "p99", "expected",
		"anon/s", "× alone", "p99", "expected", "peak RSS", "cores", "lost")
	ratio := func(v, ref float64) string {
		if ref == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", v/ref)
	}
	var failures []string
	replayed, accepted, acked, lost, unverified := 0, 0, 0, 0, 0
	for _, p := range results {
		l := p.legit
		fmt.Printf("%-9s %9.0f %7s %9s %9s %7.2f%% | %9.0f %7s %9s %7.2f%% | %5d MB %6.2f %5d\n", p.name,
			l.rate(), ratio(l.rate(), ref), ms(percentile(l.all, 0.5)), ms(percentile(l.all, 0.99)), 100*l.success(false),
			l.anonRate(), ratio(l.anonRate(), anonRef), ms(percentile(l.took["public"], 0.99)), 100*l.success(true),
			p.peakKB>>10, p.cpu, l.lost)
		replayed += p.replayed
		accepted += p.accepted
		acked += l.acked
		lost += l.lost
		unverified += l.unverified
		failures = append(failures, p.failures...)
		if p.name == "all" && ref > 0 && l.rate()/ref < *minFraction {
			failures = append(failures, fmt.Sprintf("the legitimate token holders kept %.2f of their throughput in the all phase, under -min-fraction %.2f", l.rate()/ref, *minFraction))
		}
		for _, anon := range []bool{false, true} {
			if l.success(anon) < *minSuccess {
				who := map[bool]string{false: "token holders'", true: "anonymous users'"}[anon]
				failures = append(failures, fmt.Sprintf("%s: %.2f %% of the legitimate %s requests answered as expected, under -min-success %.2f %%", p.name, 100*l.success(anon), who, 100**minSuccess))
			}
		}
	}
	peak := r.rss.run.Load()
	fmt.Printf("\nreference (alone, mean of %d runs): token holders %.0f req/s, anonymous %.0f req/s\n", n, ref, anonRef)
	fmt.Printf("peak RSS: VmRSS %d MB (%d samples every 50 ms), VmHWM %d MB; MEMORY_LIMIT %d MB\n", peak>>10, r.rss.samples.Load(), hwmKB>>10, limitKB>>10)
	fmt.Printf("used proofs sent again: %d, accepted: %d\n", replayed, accepted)
	fmt.Printf("acknowledged writes: %d, lost: %d, not shown present: %d\n", acked, lost, unverified)
	if peak > limitKB || hwmKB > limitKB {
		failures = append(failures, "resident memory passed MEMORY_LIMIT")
	}
	if accepted > 0 {
		failures = append(failures, fmt.Sprintf("%d used proofs were accepted again", accepted))
	}
	if lost > 0 {
		failures = append(failures, fmt.Sprintf("%d acknowledged writes were lost", lost))
	}
	if err := r.s.alive(); err != nil {
		failures = append(failures, "the server after the run: "+err.Error())
	} else {
		fmt.Println("the server is running and ready after the run")
	}
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Println("FAIL:", f)
		}
		stopProcess(r.s.cmd)
		exit(1)
	}
	fmt.Println("PASS")
}

// topAnswers is formatAnswers of the n most frequent of m, on one line,
// with the addresses and ports of transport errors dropped so that the
// same error counts as one.
func topAnswers(m map[string]int, n int) string {
	merged := map[string]int{}
	for k, v := range m {
		k = strings.ReplaceAll(k, "\n", " / ")
		if i := strings.Index(k, " tcp "); i >= 0 {
			if j := strings.Index(k[i:], ": "); j >= 0 {
				k = k[:i+4] + k[i+j:]
			}
		}
		merged[k] += v
	}
	if len(merged) <= n {
		return formatAnswers(merged)
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return merged[b] - merged[a] })
	top := map[string]int{}
	for _, k := range keys[:n] {
		top[k] = merged[k]
	}
	return fmt.Sprintf("%s, and %d other kinds", formatAnswers(top), len(keys)-n)
}

func errorList(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	return " (" + formatAnswers(m) + ")"
}

func formatFloats(m map[string]float64) string {
	ints := map[string]int{}
	for k, v := range m {
		ints[k] = int(v)
	}
	return formatAnswers(ints)
}

func ms(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "abuse: "+format+"\n", args...)
	exit(1)
}

// removeOnExit is the temporary folder, unless -keep.
var removeOnExit string

// exit kills the children, waits for them, removes the temporary folder
// (deferred calls do not run on os.Exit) and exits with code.
func exit(code int) {
	children.kill()
	if removeOnExit != "" {
		os.RemoveAll(removeOnExit)
	}
	os.Exit(code)
}

// slowShare says how many requests took the server over 250 ms and over
// 1 s (from http_request_duration_seconds).
func slowShare(before, after metrics) string {
	total := after.delta(before, "http_request_duration_seconds_count")
	under := func(le string) float64 {
		return after.delta(before, "http_request_duration_seconds_bucket", `le="`+le+`"`)
	}
	return fmt.Sprintf("%.0f requests, %.0f over 250 ms, %.0f over 1 s", total, total-under("0.25"), total-under("1"))
}
