package introspection_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is a stand-in RFC 7662 introspection endpoint on loopback: it
// authenticates its caller (client_secret_basic, RFC 6749 §2.3.1
// encoding) and answers from a table of tokens; unknown tokens are
// {"active":false}. It can be told to misbehave.
type server struct {
	*httptest.Server
	t                *testing.T
	clientID, secret string
	mu               sync.Mutex
	answers          map[string]map[string]any
	handler          http.HandlerFunc // replaces the normal answer when set
	requests         atomic.Int64
	badRequests      []string // what was wrong with requests, if anything
	tokensSeenInURL  atomic.Int64
	conns            atomic.Int64 // connections accepted
}

func newServer(t *testing.T, tls bool) *server {
	s := &server{t: t, clientID: "spaapi", secret: "s3cr:et/+% x", answers: map[string]map[string]any{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Clients refusing the test certificate are expected; keep quiet.
	s.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// URL of the endpoint.
func (s *server) endpoint() string { return s.Server.URL + "/introspect" }

// set answers token with members (plus "active": true unless given).
func (s *server) set(token string, members map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := members["active"]; !ok {
		members["active"] = true
	}
	s.answers[token] = members
}

// misbehave makes every request answered by h (nil: normal again).
func (s *server) misbehave(h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

func (s *server) complain(format string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.badRequests = append(s.badRequests, format)
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.URL.RawQuery != "" {
		s.tokensSeenInURL.Add(1)
	}
	s.mu.Lock()
	h := s.handler
	s.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	s.answer(w, r)
}

// answer answers as a well-behaved endpoint.
func (s *server) answer(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/introspect" {
		s.complain("method or path: " + r.Method + " " + r.URL.Path)
		http.Error(w, "no", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		s.complain("content type " + ct)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(s.clientID)+":"+url.QueryEscape(s.secret)))
	if r.Header.Get("Authorization") != want {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil || len(r.PostForm["token"]) != 1 {
		s.complain("form without exactly one token")
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if hint := r.PostForm.Get("token_type_hint"); hint != "access_token" {
		s.complain("token_type_hint " + hint)
	}
	s.mu.Lock()
	a, ok := s.answers[r.PostForm.Get("token")]
	s.mu.Unlock()
	if !ok {
		a = map[string]any{"active": false}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a)
}

// checkRequests fails the test if any request was not as RFC 7662 wants.
func (s *server) checkRequests() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.badRequests) > 0 {
		s.t.Errorf("bad introspection requests: %q", s.badRequests)
	}
	if n := s.tokensSeenInURL.Load(); n > 0 {
		s.t.Errorf("%d requests had a query string", n)
	}
}

// slow answers after d (or when the request is abandoned).
func slow(d time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		w.Write([]byte(`{"active":true,"sub":"late"}`))
	}
}

// body answers 200 with b.
func body(b string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(b))
	}
}
