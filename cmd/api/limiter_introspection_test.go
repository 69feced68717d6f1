package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Random opaque tokens flood the API from one address (127.0.0.2) while
// the introspection endpoint takes 300 ms an answer: that address holds at
// most its share of the 64 slots (8), each of its calls counts against its
// failure limit, so it is soon answered 429 without any call; meanwhile
// every new legitimate token from 127.0.0.1 is introspected and accepted.
func TestIntrospectionUnderARandomTokenFlood(t *testing.T) {
	const audience = "https://api.example"
	var attackerCalls, legitCalls atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		token := r.PostForm.Get("token")
		time.Sleep(300 * time.Millisecond)
		answer := map[string]any{"active": false}
		if strings.HasPrefix(token, "legit-") {
			legitCalls.Add(1)
			answer = map[string]any{"active": true, "sub": token, "aud": audience, "exp": time.Now().Add(time.Hour).Unix()}
		} else if !strings.HasPrefix(token, "readiness-probe-") {
			attackerCalls.Add(1)
		}
		json.NewEncoder(w).Encode(answer)
	}))
	defer endpoint.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{
			"AUTH_PROVIDER": "introspection", "INTROSPECTION_URL": endpoint.URL + "/introspect", "ISSUER_BASE_URL": "https://issuer.example",
			"INTROSPECTION_CLIENT_ID": "spaapi", "INTROSPECTION_CLIENT_SECRET": "s3cret", "AUDIENCE": audience,
			"ADDR": "127.0.0.1:0", "METRICS_ADDR": "off",
		}), io.Discard, logs)
	}()
	base := logs.baseURL(t)
	waitStatus(t, base+"/readyz", 200)

	// The attacker: 64 connections from 127.0.0.2, a new random token each
	// request, until it has been answered 429 a while.
	attacker := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext,
		MaxIdleConnsPerHost: 64,
	}}
	defer attacker.CloseIdleConnections()
	var statusMu sync.Mutex
	statuses := map[int]int{}
	var limited atomic.Int64
	stop := make(chan struct{})
	floodStart := time.Now()
	var flood sync.WaitGroup
	for range 64 {
		flood.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := make([]byte, 16)
				rand.Read(b)
				req, _ := http.NewRequest("GET", base+"/api/private", nil)
				req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(b))
				resp, err := attacker.Do(req)
				if err != nil {
					t.Errorf("attacker: %v", err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statusMu.Lock()
				statuses[resp.StatusCode]++
				statusMu.Unlock()
				if resp.StatusCode == http.StatusTooManyRequests {
					limited.Add(1)
				}
			}
		})
	}
	stopFlood := sync.OnceFunc(func() { close(stop); flood.Wait() })
	defer stopFlood()

	// The legitimate client: 20 new tokens, four at a time, while the
	// flood goes on.
	time.Sleep(200 * time.Millisecond)
	var legit sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 4)
	for i := range 20 {
		legit.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if resp, body := call(t, base+"/api/private", fmt.Sprintf("legit-%d", i)); resp.StatusCode != 200 {
				failed.Add(1)
				t.Errorf("legitimate new token %d during the flood: got %d %s", i, resp.StatusCode, body)
			}
		})
	}
	legit.Wait()
	for deadline := time.Now().Add(10 * time.Second); limited.Load() < 100; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the attacker was never limited: %v", statuses)
		}
	}
	stopFlood()
	seconds := int64(time.Since(floodStart)/time.Second) + 1
	statusMu.Lock()
	defer statusMu.Unlock()
	// Its calls: the failure limit (60), then each second, as its block
	// ends, at most its share (8) of calls under way before the first of
	// them blocks it again.
	if n, most := attackerCalls.Load(), 60+8*seconds; n > most {
		t.Errorf("the attacker's random tokens made %d introspection calls in %d s, want at most %d (60, and its share of 8 a second)", n, seconds, most)
	}
	if n := legitCalls.Load(); n != 20 {
		t.Errorf("legitimate tokens introspected: got %d, want 20", n)
	}
	t.Logf("attacker's answers: %v; its introspection calls: %d", statuses, attackerCalls.Load())
}
