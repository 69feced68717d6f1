package main

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/redis/redistest"
)

// dpopClient is a client with a DPoP key and a token from the test issuer
// bound to it, calling /api/private with fresh proofs for htu.
type dpopClient struct {
	t     *testing.T
	key   *dpop.Signer
	token string
	htu   string // the URL proofs name: the API's public URL
}

func newDPoPClient(t *testing.T, iss *jwtverifytest.Issuer, htu string) *dpopClient {
	key, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Claims("auth0|alice", "read:messages")
	c["cnf"] = map[string]any{"jkt": key.JKT()}
	return &dpopClient{t: t, key: key, token: iss.Token(c), htu: htu}
}

func (c *dpopClient) proof() string {
	p, err := c.key.Proof("GET", c.htu, c.token, "", time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// get sends GET base/api/private with proof; it returns the status and the
// first challenge.
func (c *dpopClient) get(base, proof string) (int, string, string) {
	resp, _ := send(c.t, "GET", base+"/api/private", "DPoP "+c.token, proof)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Retry-After")
}

// Two instances behind one public URL share one Redis (TEST_REDIS_URL): a
// proof accepted by either is refused by the other, while fresh proofs pass
// on both.
func TestTwoInstancesShareOneRedis(t *testing.T) {
	redisURL := redistest.URL(t)
	iss := jwtverifytest.NewIssuer(t)
	// A leeway of 1 s: proofs that could have been used before Redis
	// started are refused, and CI's Redis may have started moments ago.
	common := []string{"ISSUER_BASE_URL=" + iss.URL, "AUDIENCE=" + jwtverifytest.Audience, "ADDR=127.0.0.1:0",
		"REDIS_URL=" + redisURL, "PUBLIC_URL=https://api.example.com", "DPOP_IAT_LEEWAY=1"}
	cmdA, logsA := startBinary(t, common...)
	cmdB, logsB := startBinary(t, common...)
	a, b := logsA.baseURL(t), logsB.baseURL(t)
	waitStatus(t, a+"/readyz", 200)
	waitStatus(t, b+"/readyz", 200)
	c := newDPoPClient(t, iss, "https://api.example.com/api/private")

	for _, order := range [][2]string{{a, b}, {b, a}} {
		p := c.proof()
		if status, ch, _ := c.get(order[0], p); status != 200 {
			t.Fatalf("first use: got %d %s", status, ch)
		}
		status, ch, _ := c.get(order[1], p)
		if want := `DPoP error="invalid_dpop_proof", error_description="DPoP proof already used: jti"`; status != 401 || !strings.HasPrefix(ch, want) {
			t.Errorf("the same proof at the other instance: got %d %q, want 401 %s…", status, ch, want)
		}
	}
	for _, base := range []string{a, b} {
		if status, ch, _ := c.get(base, c.proof()); status != 200 {
			t.Errorf("fresh proof at %s: got %d %s", base, status, ch)
		}
	}
	// A graceful stop writes every buffered log line before the check.
	for _, cmd := range []*exec.Cmd{cmdA, cmdB} {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	for _, logs := range []*logBuffer{logsA, logsB} {
		if !strings.Contains(logs.String(), `"msg":"request"`) {
			t.Errorf("a log has no request lines: the check below would prove nothing")
		}
		if strings.Contains(logs.String(), c.token) || strings.Contains(logs.String(), strings.Split(c.proof(), ".")[0][:20]) {
			t.Errorf("a log holds the token or a proof")
		}
	}
}

// Redis stopped: DPoP requests get 503 with Retry-After (never accepted
// unchecked) and /readyz says what is missing, while bearer tokens still
// work; Redis back on the same port, without the proofs it held: proofs
// that could have been used before are refused, fresh ones accepted, and
// the API recovers by itself.
func TestRedisStoppedThenRestartedUnderTheAPI(t *testing.T) {
	srv := redistest.Start(t)
	time.Sleep(2 * time.Second) // Redis up for longer than the leeway
	iss := jwtverifytest.NewIssuer(t)
	_, logs := startBinary(t, "ISSUER_BASE_URL="+iss.URL, "AUDIENCE="+jwtverifytest.Audience, "ADDR=127.0.0.1:0",
		"REDIS_URL="+srv.URL(), "DPOP_IAT_LEEWAY=1")
	base := logs.baseURL(t)
	waitStatus(t, base+"/readyz", 200)
	c := newDPoPClient(t, iss, strings.Replace(base, "127.0.0.1", "localhost", 1)+"/api/private")
	base = strings.Replace(base, "127.0.0.1", "localhost", 1)
	if status, ch, _ := c.get(base, c.proof()); status != 200 {
		t.Fatalf("Redis up: got %d %s", status, ch)
	}

	srv.Stop()
	p := c.proof()
	status, _, retry := c.get(base, p)
	if status != 503 || retry == "" {
		t.Fatalf("Redis stopped: got %d Retry-After %q, want 503 with Retry-After", status, retry)
	}
	if resp, body := call(t, base+"/readyz", ""); resp.StatusCode != 503 || !strings.Contains(body, "the DPoP replay store") {
		t.Errorf("/readyz with Redis stopped: got %d %s", resp.StatusCode, body)
	}
	if resp, _ := call(t, base+"/api/private", iss.Token(iss.Claims("auth0|bob"))); resp.StatusCode != 200 {
		t.Errorf("bearer token with Redis stopped: got %d, want 200", resp.StatusCode)
	}

	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, ch, _ := c.get(base, c.proof())
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis restarted: still %d %s after 15 s", status, ch)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitStatus(t, base+"/readyz", 200)
	// The proof refused while Redis was down was made before the restart:
	// the restarted Redis cannot vouch for it, so it is refused (503).
	if status, ch, retry := c.get(base, p); status != 503 || ch != "" || retry == "" {
		t.Errorf("the proof made before the restart: got %d %q Retry-After %q, want 503 with Retry-After and no challenge", status, ch, retry)
	}
	// Request lines are buffered and written within 100 ms.
	for _, reason := range []string{"dpop_unavailable", "dpop_replay_store_restarted"} {
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), `"reason":"`+reason+`"`); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("the log lacks the %s request:\n%s", reason, logs.String())
				break
			}
		}
	}
}

// A Redis whose eviction policy could drop used proofs stops start-up,
// naming REDIS_URL, the policy and the fix; the same Redis under
// noeviction starts.
func TestBinaryRefusesAnEvictingRedis(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "16mb", "--maxmemory-policy", "volatile-lru")
	iss := jwtverifytest.NewIssuer(t)
	cmd := exec.Command(binary(t))
	cmd.Env = []string{"ISSUER_BASE_URL=" + iss.URL, "AUDIENCE=" + jwtverifytest.Audience, "ADDR=127.0.0.1:0",
		"METRICS_ADDR=127.0.0.1:0", "DATABASE_URL=memory:", "REDIS_URL=" + srv.URL()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("got %v (%s), want exit status 1", err, stderr.String())
	}
	want := "api: REDIS_URL: Redis's maxmemory-policy is volatile-lru, which can evict used DPoP proofs under memory pressure, " +
		"and an evicted proof can be replayed: set maxmemory-policy noeviction " +
		"(CONFIG SET maxmemory-policy noeviction, redis.conf, or your provider's parameter group)\n"
	if got := stderr.String(); !strings.HasSuffix(got, want) {
		t.Errorf("stderr: got %q, want it to end with %q", got, want)
	}

	srv.Stop()
	srv = redistest.Start(t, "--maxmemory", "16mb", "--maxmemory-policy", "noeviction")
	_, logs := startBinary(t, "ISSUER_BASE_URL="+iss.URL, "AUDIENCE="+jwtverifytest.Audience, "ADDR=127.0.0.1:0", "REDIS_URL="+srv.URL())
	waitStatus(t, logs.baseURL(t)+"/readyz", 200)
}
