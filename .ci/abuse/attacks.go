package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
)

// Each abuser comes from a loopback address of its own (Linux routes all
// of 127.0.0.0/8 to lo), as distinct clients do: the failed-credential
// limit counts per client address, and the legitimate client is
// 127.0.0.1.
const (
	headersAddr = "127.0.0.10"
	listsAddr   = "127.0.0.11"
	rsaAddr     = "127.0.0.12"
	forgedAddr  = "127.0.0.2"
	dpopAddr    = "127.0.0.13"
	authorAddr  = "127.0.0.14"
	oauthAddr   = "127.0.0.15"
)

// abuser is one attack under way.
type abuser interface {
	name() string
	stop()                           // ends it and waits for its goroutines
	report() (int64, map[string]int) // requests sent (or connections opened) and answers by "status code"
}

// tally counts answers.
type tally struct {
	mu      sync.Mutex
	answers map[string]int
	sent    atomic.Int64
}

func (t *tally) add(key string) {
	t.mu.Lock()
	if t.answers == nil {
		t.answers = map[string]int{}
	}
	t.answers[key]++
	t.mu.Unlock()
}

func (t *tally) snapshot() (int64, map[string]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for k, v := range t.answers {
		out[k] = v
	}
	return t.sent.Load(), out
}

// flood sends requests over conns keep-alive connections from one
// address, at most rate a second over all of them (0: each connection as
// fast as its answers come back).
type flood struct {
	label    string
	from, to string
	conns    int
	rate     int
	next     func(conn, n int) []byte
	answered func(req []byte, a answer) // optional
	tally
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (f *flood) name() string                    { return f.label }
func (f *flood) report() (int64, map[string]int) { return f.snapshot() }
func (f *flood) stop()                           { f.cancel(); f.wg.Wait() }

func (f *flood) start(ctx context.Context) *flood {
	ctx, f.cancel = context.WithCancel(ctx)
	var gap time.Duration // between one connection's requests
	if f.rate > 0 {
		gap = time.Duration(float64(time.Second) * float64(f.conns) / float64(f.rate))
	}
	for i := range f.conns {
		f.wg.Go(func() {
			var c *conn
			var cur atomic.Pointer[conn] // c, for the AfterFunc below
			defer func() {
				if c != nil {
					c.close()
				}
			}()
			stop := context.AfterFunc(ctx, func() {
				if p := cur.Load(); p != nil {
					p.c.SetDeadline(time.Now())
				}
			})
			defer stop()
			next := time.Now().Add(time.Duration(mathrand.Int64N(int64(max(gap, time.Millisecond)))))
			for n := 0; ctx.Err() == nil; n++ {
				if gap > 0 {
					if wait := time.Until(next); wait > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(wait):
						}
					}
					next = next.Add(gap)
					if time.Until(next) < -time.Second { // fallen behind: do not burst
						next = time.Now()
					}
				}
				if c == nil {
					var err error
					if c, err = dial(f.from, f.to); err != nil {
						f.add("dial: " + shortErr(err))
						time.Sleep(10 * time.Millisecond)
						continue
					}
					cur.Store(c)
					if ctx.Err() != nil {
						return
					}
				}
				req := f.next(i, n)
				f.sent.Add(1)
				a, err := c.do(req, false)
				if err != nil && err != errClosing {
					if ctx.Err() == nil {
						f.add(shortErr(err))
					}
					c.close()
					c = nil
					continue
				}
				if err == errClosing {
					c.close()
					c = nil
				}
				f.add(a.key())
				if f.answered != nil {
					f.answered(req, a)
				}
			}
		})
	}
	return f
}

// crowd keeps n connections from one address, each running hold until it
// returns, then opening the next; at most 256 dials at a time.
type crowd struct {
	label string
	n     int
	open  atomic.Int64
	tally
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (c *crowd) name() string                    { return c.label }
func (c *crowd) report() (int64, map[string]int) { return c.snapshot() }
func (c *crowd) stop()                           { c.cancel(); c.wg.Wait() }

func startCrowd(ctx context.Context, label, from, to string, n int, hold func(ctx context.Context, c net.Conn, t *tally)) *crowd {
	cr := &crowd{label: label, n: n}
	ctx, cr.cancel = context.WithCancel(ctx)
	dialer := crowdDialer(from)
	gate := make(chan struct{}, 256)
	for range n {
		cr.wg.Go(func() {
			for ctx.Err() == nil {
				gate <- struct{}{}
				c, err := dialer.DialContext(ctx, "tcp", to)
				<-gate
				if err != nil {
					if ctx.Err() == nil {
						cr.add("dial: " + shortErr(err))
					}
					time.Sleep(100 * time.Millisecond)
					continue
				}
				cr.sent.Add(1)
				cr.open.Add(1)
				stop := context.AfterFunc(ctx, func() { c.Close() })
				hold(ctx, c, &cr.tally)
				stop()
				c.Close()
				cr.open.Add(-1)
			}
		})
	}
	return cr
}

// waitOpen waits until every connection of the crowds is open, at most
// limit.
func waitOpen(limit time.Duration, crowds ...*crowd) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		all := true
		for _, c := range crowds {
			all = all && c.open.Load() >= int64(c.n)
		}
		if all {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// headerCrowd: n connections, each sending an unfinished request head as
// large as the server reads (maxHead + 4 KiB - 1: net/http reads 4 KiB
// past MaxHeaderBytes) in 100 fields (the most the API takes), no token,
// and waiting until the server closes it (its 5 s header timeout);
// then again.
func headerCrowd(ctx context.Context, api string, n, maxHead int) *crowd {
	size := maxHead + 4096 - 1
	var b strings.Builder
	b.WriteString("GET /api/public HTTP/1.1\r\nHost: api\r\n")
	per := (size - b.Len()) / 99
	for i := range 98 {
		fmt.Fprintf(&b, "X-Field-%02d: %s\r\n", i, strings.Repeat("v", per-len("X-Field-00: \r\n")))
	}
	b.WriteString("X-Last: " + strings.Repeat("v", size-b.Len()-len("X-Last: ")))
	head := []byte(b.String())
	return startCrowd(ctx, "unfinished 44 KiB heads", headersAddr, api, n, func(ctx context.Context, c net.Conn, t *tally) {
		if _, err := c.Write(head); err != nil {
			return
		}
		got, _ := io.ReadAll(io.LimitReader(c, 64<<10)) // until the server closes it
		if ctx.Err() != nil {
			return
		}
		t.add(statusOf(got, "closed, no answer"))
	})
}

// listCrowd: n connections, each asking for the newest page of 100 with
// one of tokens and never reading past the status line (a 4 KiB receive
// buffer); each held 35 s (past the server's 30 s write timeout), then
// opened again.
func listCrowd(ctx context.Context, api string, n int, tokens []string) *crowd {
	var i atomic.Int64
	return startCrowd(ctx, "unread pages of 100", listsAddr, api, n, func(ctx context.Context, c net.Conn, t *tally) {
		tok := tokens[int(i.Add(1))%len(tokens)]
		if _, err := io.WriteString(c, "GET /api/messages?limit=100 HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer "+tok+"\r\n\r\n"); err != nil {
			return
		}
		held := time.Now().Add(35 * time.Second)
		c.SetReadDeadline(held)
		line := make([]byte, 12)
		k, _ := io.ReadFull(c, line)
		if ctx.Err() != nil {
			return
		}
		t.add(statusOf(line[:k], "no answer in 35 s"))
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(held)):
		}
	})
}

// statusOf reads the status of an answer's first bytes.
func statusOf(b []byte, none string) string {
	if len(b) >= 12 && strings.HasPrefix(string(b), "HTTP/1.1 ") {
		return string(b[9:12])
	}
	return none
}

// rsaProof signs an RS256 DPoP proof with key, whatever its size (the
// API's own dpop.Signer refuses keys the API refuses), for method and
// url, carrying token ("" for none).
func rsaProof(key *rsa.PrivateKey, method, url, token string) string {
	jwk, err := dpop.PublicJWK(key.Public())
	check(err)
	h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk})
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if token != "" {
		claims["ath"] = dpop.AccessTokenHash(token)
	}
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := jwt.SigningMethodRS256.Sign(input, key)
	check(err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// readRSAKey reads a PKCS #8 PEM RSA private key.
func readRSAKey(file string) *rsa.PrivateKey {
	b, err := os.ReadFile(file)
	check(err)
	block, _ := pem.Decode(b)
	if block == nil {
		fail("%s: no PEM block", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	check(err)
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		fail("%s: not an RSA key", file)
	}
	return key
}

// rsaFlood: GET /api/private with a valid token and a proof signed with an
// RSA-8192 key: half the requests with a token bound to another key, half
// with an unbound bearer token sent as DPoP.
func rsaFlood(ctx context.Context, s *server, m *devissuer.Minter, key8192 *rsa.PrivateKey) *flood {
	_, bound := bindToken(m, "rsa-flooder", "read:messages")
	bearer, _, err := m.AccessToken(devissuer.Grant{Subject: "rsa-flooder", ClientID: devissuer.DefaultSPAClient, TTL: time.Hour})
	check(err)
	url := "http://" + s.api + "/api/private"
	reqs := [][]byte{
		request("GET", "/api/private", s.api, nil, "Authorization", "DPoP "+bound, "DPoP", rsaProof(key8192, "GET", url, bound)),
		request("GET", "/api/private", s.api, nil, "Authorization", "DPoP "+bearer, "DPoP", rsaProof(key8192, "GET", url, bearer)),
	}
	return (&flood{label: "RSA-8192 proofs", from: rsaAddr, to: s.api, conns: *rsaConns, rate: *rsaRate,
		next: func(_, n int) []byte { return reqs[n%2] }}).start(ctx)
}

// forgedFlood: GET /api/private with forged bearer tokens from
// 127.0.0.2: a valid token's header (the issuer's real kid) and signature
// with payloads of their own, each costing a signature check to refuse.
func forgedFlood(ctx context.Context, s *server, valid string) *flood {
	parts := strings.Split(valid, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	check(err)
	var claims map[string]any
	check(json.Unmarshal(payload, &claims))
	reqs := make([][]byte, 4096)
	for i := range reqs {
		claims["sub"] = fmt.Sprintf("mallory-%d", i)
		p, _ := json.Marshal(claims)
		tok := parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		reqs[i] = request("GET", "/api/private", s.api, nil, "Authorization", "Bearer "+tok)
	}
	return (&flood{label: "forged bearer tokens", from: forgedAddr, to: s.api, conns: *forgedConns, rate: *forgedRate,
		next: func(i, n int) []byte { return reqs[(n**forgedConns+i)%len(reqs)] }}).start(ctx)
}

// dpopFlooder is one DPoP key holder with one token, sending a fresh
// proof with every request; it keeps a sample of its accepted requests.
type dpopFlooder struct {
	key   *dpop.Signer
	token string
	mu    sync.Mutex
	used  []usedProof
	seen  int
	first time.Time // its first 429
}

func newDPoPFlooder(m *devissuer.Minter) *dpopFlooder {
	key, tok := bindToken(m, "dpop-flooder", "read:messages")
	return &dpopFlooder{key: key, token: tok}
}

func (d *dpopFlooder) flood(ctx context.Context, s *server, conns, rate int) *flood {
	url := "http://" + s.api + "/api/private"
	return (&flood{label: "one DPoP key's proofs", from: dpopAddr, to: s.api, conns: conns, rate: rate,
		next: func(_, _ int) []byte {
			p, err := d.key.Proof("GET", url, d.token, "", time.Now())
			check(err)
			return request("GET", "/api/private", s.api, nil, "Authorization", "DPoP "+d.token, "DPoP", p)
		},
		answered: func(req []byte, a answer) {
			d.mu.Lock()
			defer d.mu.Unlock()
			switch {
			case a.status == 200:
				if d.seen++; len(d.used) < *replaySample {
					d.used = append(d.used, usedProof{req})
				} else if i := mathrand.IntN(d.seen); i < *replaySample {
					d.used[i] = usedProof{req}
				}
			case a.status == 429 && d.first.IsZero():
				d.first = time.Now()
			}
		}}).start(ctx)
}

func (d *dpopFlooder) refused() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.first.IsZero()
}

// authorFlood: one author, already at its quota, posting over -author-conns
// connections as fast as the answers come (each 429 quota_exceeded).
func authorFlood(ctx context.Context, s *server, token string) *flood {
	req := request("POST", "/api/messages", s.api, []byte(`{"text":"one more"}`),
		"Authorization", "Bearer "+token, "Content-Type", "application/json")
	return (&flood{label: "one author at its quota", from: authorAddr, to: s.api, conns: *authorConns,
		next: func(_, _ int) []byte { return req }}).start(ctx)
}

// oauthFlood: anonymous POST /oauth/token to the development issuer with
// proofs made with large keys: RSA-8192 (refused for its size) and
// RSA-4096 (an accepted size) with a wrong client secret, and RSA-8192
// from an unknown client.
func oauthFlood(ctx context.Context, s *server, key8192, key4096 *rsa.PrivateKey) *flood {
	_, port, _ := net.SplitHostPort(s.issuer)
	host := "localhost:" + port
	url := "http://" + host + "/oauth/token"
	form := "application/x-www-form-urlencoded"
	wrong := []byte("grant_type=client_credentials&client_id=" + devissuer.DefaultMachine + "&client_secret=wrong&audience=" + devissuer.DefaultAudience)
	unknown := []byte("grant_type=client_credentials&client_id=mallory&client_secret=x")
	var reqs [][]byte
	for _, k := range []*rsa.PrivateKey{key8192, key4096} {
		reqs = append(reqs, request("POST", "/oauth/token", host, wrong, "Content-Type", form, "DPoP", rsaProof(k, "POST", url, "")))
	}
	reqs = append(reqs, request("POST", "/oauth/token", host, unknown, "Content-Type", form, "DPoP", rsaProof(key8192, "POST", url, "")))
	return (&flood{label: "anonymous /oauth/token, large keys", from: oauthAddr, to: s.issuer, conns: *oauthConns, rate: *oauthRate,
		next: func(_, n int) []byte { return reqs[n%len(reqs)] }}).start(ctx)
}

// replay sends each used request again, 40 from each address from
// base.1, base.2, … (under the failed-credential limit's 60, so that each
// is checked, not refused unchecked), and counts the answers.
func replay(s *server, base string, used []usedProof) (accepted int, answers map[string]int) {
	answers = map[string]int{}
	var c *conn
	for i, u := range used {
		if i%40 == 0 || c == nil {
			if c != nil {
				c.close()
			}
			var err error
			if c, err = dial(fmt.Sprintf("%s.%d", base, i/40+1), s.api); err != nil {
				answers["dial: "+shortErr(err)]++
				c = nil
				continue
			}
		}
		a, err := c.do(u.req, false)
		if err != nil && err != errClosing {
			answers[shortErr(err)]++
			c.close()
			c = nil
			continue
		}
		if err == errClosing {
			c.close()
			c = nil
		}
		answers[a.key()]++
		if a.status < 300 {
			accepted++
		}
	}
	if c != nil {
		c.close()
	}
	return accepted, answers
}

// formatAnswers lists answer counts, most first.
func formatAnswers(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
