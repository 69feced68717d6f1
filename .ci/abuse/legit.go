package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
)

// The legitimate client: -legit-conns users, each on its own keep-alive
// connection from 127.0.0.1 with its own DPoP key and a token bound to it
// (read:messages write:messages), in a loop: GET /api/private, GET
// /api/messages (the newest page), POST /api/messages, DELETE the message
// it posted; every request with a fresh proof, as fast as the answers
// come back.
const legitAddr = "127.0.0.1"

// legitKinds are the requests of one turn of a user's loop, with the
// answer each must get.
var legitKinds = []struct {
	name string
	want int
}{{"private", 200}, {"list", 200}, {"post", 201}, {"delete", 204}}

// usedProof is a request the API accepted, kept byte for byte to be sent
// again: its DPoP proof must then be refused.
type usedProof struct {
	req []byte
}

// legitResult is one run of the legitimate client.
type legitResult struct {
	elapsed time.Duration
	took    map[string][]time.Duration // by kind: latencies of the expected answers
	all     []time.Duration            // the token holders' (every kind but public)
	errors  map[string]int             // "kind status code" or "kind: transport error"
	used    []usedProof                // a sample of its accepted requests
	// The token holders' writes: posts acknowledged (201), and of them
	// those whose DELETE got 404 although no earlier DELETE of it may
	// have reached the server (lost), and those whose presence could not
	// be shown (a DELETE that failed otherwise, twice).
	acked, lost, unverified int
	cpu                     time.Duration // its process's CPU time
}

func (r *legitResult) ok() int { return len(r.all) }

func (r *legitResult) rate() float64 { return float64(r.ok()) / r.elapsed.Seconds() }

func (r *legitResult) anonRate() float64 { return float64(len(r.took["public"])) / r.elapsed.Seconds() }

// errorCount counts the token holders' unexpected answers (anon false)
// or the anonymous users' (anon true).
func (r *legitResult) errorCount(anon bool) int {
	n := 0
	for k, v := range r.errors {
		if strings.HasPrefix(k, "public") == anon {
			n += v
		}
	}
	return n
}

// success is the share of requests answered as expected, of the token
// holders (anon false) or the anonymous users (anon true); 1 when none
// was sent.
func (r *legitResult) success(anon bool) float64 {
	ok := len(r.all)
	if anon {
		ok = len(r.took["public"])
	}
	if n := ok + r.errorCount(anon); n > 0 {
		return float64(ok) / float64(n)
	}
	return 1
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// bindToken mints a token for sub bound to a new ES256 key, as the
// development issuer would for a DPoP client whose user has just logged
// in with its second step (-dev's step-up rule on DELETE asks for it).
func bindToken(m *devissuer.Minter, sub string, scopes ...string) (*dpop.Signer, string) {
	key, err := dpop.GenerateSigner("ES256")
	check(err)
	tok, _, err := m.AccessToken(devissuer.Grant{Subject: sub, ClientID: devissuer.DefaultSPAClient,
		Scopes: scopes, Permissions: scopes, TTL: time.Hour, JKT: key.JKT(),
		Login: devissuer.Login{Time: time.Now(), ACR: devissuer.ACRMultiFactor, AMR: []string{"pwd", "otp", "mfa"}}})
	check(err)
	return key, tok
}

// runLegit runs the legitimate client for d. Each run gives each user a
// new key and token: one user sends more proofs a second than one token's
// share of the replay cache sustains (DPOP_MAX_PROOFS_PER_TOKEN over the
// proof window, about 100 a second), which the API would rightly refuse
// (429 too_many_proofs) over a long run.
func runLegit(ctx context.Context, api string, m *devissuer.Minter, d time.Duration) *legitResult {
	res := &legitResult{took: map[string][]time.Duration{}, errors: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	keep := max(1, *replaySample / *legitConns)
	for range *anonConns {
		wg.Go(func() {
			var took []time.Duration
			errs := map[string]int{}
			req := request("GET", "/api/public", api, nil)
			var c *conn
			for ctx.Err() == nil && time.Now().Before(end) {
				if c == nil {
					var err error
					if c, err = dial(legitAddr, api); err != nil {
						errs["public: dial: "+shortErr(err)]++
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				t := time.Now()
				a, err := c.do(req, false)
				if err != nil && err != errClosing {
					if ctx.Err() == nil {
						errs["public: "+shortErr(err)]++
					}
					c.close()
					c = nil
					continue
				}
				if err == errClosing {
					c.close()
					c = nil
				}
				if a.status != 200 {
					errs["public "+a.key()]++
					continue
				}
				took = append(took, time.Since(t))
			}
			if c != nil {
				c.close()
			}
			mu.Lock()
			defer mu.Unlock()
			res.took["public"] = append(res.took["public"], took...)
			for k, v := range errs {
				res.errors[k] += v
			}
		})
	}
	for u := range *legitConns {
		wg.Go(func() {
			key, tok := bindToken(m, fmt.Sprintf("legit-%d", u+1), "read:messages", "write:messages")
			took := map[string][]time.Duration{}
			errs := map[string]int{}
			var used []usedProof
			seen := 0
			acked, lost := 0, 0
			// pending: acknowledged posts not yet shown present by a 204
			// to their DELETE; uncertain: those with a DELETE whose answer
			// never came (it may have deleted the message).
			var pending []string
			uncertain := map[string]bool{}
			var c *conn
			defer func() {
				if c != nil {
					c.close()
				}
			}()
			// send makes a request with a fresh proof and checks its answer.
			send := func(kind, method, path string, body []byte, want int) (answer, bool) {
				if c == nil {
					var err error
					if c, err = dial(legitAddr, api); err != nil {
						errs[kind+": dial: "+shortErr(err)]++
						time.Sleep(10 * time.Millisecond)
						return answer{}, false
					}
				}
				proof, err := key.Proof(method, "http://"+api+path, tok, "", time.Now())
				check(err)
				hdr := []string{"Authorization", "DPoP " + tok, "DPoP", proof}
				if body != nil {
					hdr = append(hdr, "Content-Type", "application/json")
				}
				req := request(method, path, api, body, hdr...)
				t := time.Now()
				a, err := c.do(req, kind == "post")
				if err != nil && err != errClosing {
					if ctx.Err() == nil {
						errs[kind+": "+shortErr(err)]++
					}
					c.close()
					c = nil
					return answer{status: -1}, false
				}
				if err == errClosing {
					c.close()
					c = nil
				}
				if a.status != want {
					errs[kind+" "+a.key()]++
					return a, false
				}
				took[kind] = append(took[kind], time.Since(t))
				// Reservoir sampling of the accepted requests.
				if seen++; len(used) < keep {
					used = append(used, usedProof{req})
				} else if i := rand.IntN(seen); i < keep {
					used[i] = usedProof{req}
				}
				return a, true
			}
			// del deletes an acknowledged message: 204 shows it was kept, a
			// 404 that it was lost, unless an earlier DELETE of it may
			// have reached the server.
			del := func(id string) bool {
				a, ok := send("delete", "DELETE", "/api/messages/"+id, nil, 204)
				switch {
				case ok:
					return true
				case a.status == 404 && !uncertain[id]:
					lost++
					return true
				case a.status == 404:
					return true // deleted by the DELETE whose answer never came
				case a.status <= 0:
					uncertain[id] = true
				}
				return false
			}
			for ctx.Err() == nil && time.Now().Before(end) {
				send("private", "GET", "/api/private", nil, 200)
				send("list", "GET", "/api/messages", nil, 200)
				body, _ := json.Marshal(map[string]string{"text": fmt.Sprintf("legit-%d at %s", u+1, time.Now().Format(time.RFC3339Nano))})
				a, ok := send("post", "POST", "/api/messages", body, 201)
				if !ok {
					continue
				}
				acked++
				var msg struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(a.body, &msg) != nil || msg.ID == "" {
					errs["post: no id in the answer"]++
					continue
				}
				if !del(msg.ID) {
					pending = append(pending, msg.ID)
				}
			}
			// The acknowledged posts not yet shown present, once more each
			// (after the phase's time, still beside its abuse).
			var unverified int
			for _, id := range pending {
				if !del(id) {
					unverified++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.acked += acked
			res.lost += lost
			res.unverified += unverified
			for k, v := range took {
				res.took[k] = append(res.took[k], v...)
				res.all = append(res.all, v...)
			}
			for k, v := range errs {
				res.errors[k] += v
			}
			res.used = append(res.used, used...)
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// shortErr names a transport error without its addresses and ports.
func shortErr(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by the server"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	s := err.Error()
	return s[strings.LastIndex(s, ": ")+1:]
}
