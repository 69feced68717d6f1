package jwtverify_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

// cached starts a verifier with a cache of size entries and a test clock,
// returning it with its metrics registry.
func cached(t *testing.T, iss *jwtverifytest.Issuer, size int, ttl time.Duration) (*jwtverify.Verifier, *clock, *prometheus.Registry) {
	t.Helper()
	clk := &clock{}
	cfg := newConfig(iss)
	cfg.Now, cfg.CacheSize, cfg.CacheTTL = clk.Now, size, ttl
	reg := prometheus.NewRegistry()
	v := newVerifier(t, cfg, quiet, reg)
	waitReady(t, v)
	return v, clk, reg
}

// metric returns the value of the named counter or gauge.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestCacheHits(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v, _, reg := cached(t, iss, 100, time.Minute)
	tok := iss.Token(iss.Claims("auth0|alice", "read:messages"))
	for i := range 3 {
		p, err := v.Verify(context.Background(), tok)
		if err != nil || p.Subject != "auth0|alice" || !p.HasScope("read:messages") {
			t.Fatalf("verify %d: got %+v, %v", i, p, err)
		}
	}
	if h, m := metric(t, reg, "token_cache_hits_total"), metric(t, reg, "token_cache_misses_total"); h != 2 || m != 1 {
		t.Errorf("hits %v misses %v, want 2 and 1", h, m)
	}
	if n := metric(t, reg, "token_cache_entries"); n != 1 {
		t.Errorf("entries: got %v, want 1", n)
	}
}

func TestCacheRefusalsAreNotCached(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v, _, reg := cached(t, iss, 100, time.Minute)
	bad := iss.Token(iss.Claims("auth0|alice")) + "xx"
	for range 2 {
		if _, err := v.Verify(context.Background(), bad); reasonOf(t, err) != domain.ReasonSignature {
			t.Fatalf("got %v, want bad_signature", err)
		}
	}
	if n := metric(t, reg, "token_cache_entries"); n != 0 {
		t.Errorf("entries after refusals: got %v, want 0", n)
	}
}

func TestCachedTokenWithTamperedSignatureIsRefused(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v, _, _ := cached(t, iss, 100, time.Minute)
	tok := iss.Token(iss.Claims("auth0|alice", "read:messages"))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	// Every variant differs from the cached token in one character.
	i := strings.LastIndex(tok, ".")
	for _, tampered := range []string{
		tok[:len(tok)-2] + flip(tok[len(tok)-2]) + tok[len(tok)-1:], // signature
		tok[:i+1] + flip(tok[i+1]) + tok[i+2:],                      // first signature character
		tok[:i-3] + flip(tok[i-3]) + tok[i-2:],                      // payload
	} {
		if _, err := v.Verify(context.Background(), tampered); err == nil {
			t.Errorf("tampered copy of a cached token accepted")
		}
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestCacheHonoursExpiry(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v, clk, _ := cached(t, iss, 100, time.Hour)
	c := iss.Claims("auth0|alice")
	c["exp"] = time.Now().Add(30 * time.Second).Unix()
	tok := iss.Token(c)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30*time.Second + 5*time.Second + time.Second) // past exp and the 5s leeway
	if _, err := v.Verify(context.Background(), tok); reasonOf(t, err) != domain.ReasonExpired {
		t.Errorf("cached token after its exp: got %v, want expired", err)
	}
}

func TestCacheEntryLivesAtMostTTL(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v, clk, reg := cached(t, iss, 100, time.Minute)
	tok := iss.Token(iss.Claims("auth0|alice"))
	for _, d := range []time.Duration{0, 30 * time.Second} {
		clk.Advance(d)
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("valid token %v after the first verification: %v", d, err)
		}
	}
	if h := metric(t, reg, "token_cache_hits_total"); h != 1 {
		t.Fatalf("hits within the TTL: got %v, want 1", h)
	}
	clk.Advance(31 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("valid token after the TTL: %v", err)
	}
	if h, m := metric(t, reg, "token_cache_hits_total"), metric(t, reg, "token_cache_misses_total"); h != 1 || m != 2 {
		t.Errorf("after the TTL: hits %v misses %v, want 1 and 2 (verified again)", h, m)
	}
}

func TestCacheStaysWithinItsBound(t *testing.T) {
	for _, size := range []int{10, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			iss := jwtverifytest.NewIssuer(t)
			v, _, reg := cached(t, iss, size, time.Hour)
			n := size + 500
			for i := range n {
				if _, err := v.Verify(context.Background(), iss.Token(iss.Claims(fmt.Sprintf("auth0|user-%d", i)))); err != nil {
					t.Fatal(err)
				}
			}
			entries, evictions := metric(t, reg, "token_cache_entries"), metric(t, reg, "token_cache_evictions_total")
			if entries > float64(size) || entries < float64(size)/2 {
				t.Errorf("entries: got %v, want at most %d and not far below", entries, size)
			}
			if int(entries)+int(evictions) != n {
				t.Errorf("entries %v + evictions %v != %d tokens", entries, evictions, n)
			}
		})
	}
}

func TestCacheDropsTokensOfRemovedKeys(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v, clk, _ := cached(t, iss, 100, time.Hour)
	old := iss.Token(iss.Claims("auth0|alice"))
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	// The issuer withdraws key-1 for key-2; a token naming key-2 makes the
	// verifier fetch the key set again.
	k2 := jwtverifytest.NewRSAKey(t, "key-2", 1)
	iss.Publish(k2)
	clk.Advance(jwtverify.DefaultUnknownKeyCooldown)
	if _, err := v.Verify(context.Background(), jwtverifytest.Sign(t, k2, jwtverifytest.Header(k2), iss.Claims("auth0|bob"))); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if _, err := v.Verify(context.Background(), old); reasonOf(t, err) != domain.ReasonUnknownKey {
		t.Errorf("cached token of a withdrawn key: got %v, want unknown_key", err)
	}
}

func TestCacheUnderConcurrency(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v, _, _ := cached(t, iss, 8, time.Hour) // small: evictions race with hits
	var tokens []string
	for i := range 20 {
		tokens = append(tokens, iss.Token(iss.Claims(fmt.Sprintf("auth0|user-%d", i))))
	}
	bad := tokens[0] + "xx"
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				n := (g*7 + i) % len(tokens)
				p, err := v.Verify(context.Background(), tokens[n])
				if err != nil || p.Subject != fmt.Sprintf("auth0|user-%d", n) {
					errs <- fmt.Sprintf("token %d: %+v %v", n, p.Subject, err)
					return
				}
				if _, err := v.Verify(context.Background(), bad); err == nil {
					errs <- "bad token accepted"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestCacheOff(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v, _, reg := cached(t, iss, 0, time.Minute)
	tok := iss.Token(iss.Claims("auth0|alice"))
	for range 2 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "token_cache_") {
			t.Errorf("cache disabled but %s is exported", mf.GetName())
		}
	}
}

// A cached verification holds only under the configuration it was made
// under. Here the issuer is configured without its trailing slash and its
// discovery document first names it with one, so tokens carry "iss" with
// the slash; then the JWKS fails once (so the next fetch discovers again)
// and the document names it without. A token verified and cached under
// the first name is then refused for its issuer, as a full verification
// refuses it, not served from the cache.
func TestCacheDropsVerificationsOfAnEarlierConfiguration(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	bare := strings.TrimSuffix(iss.URL, "/")
	clk := &clock{}
	cfg := newConfig(iss)
	cfg.Name = bare
	cfg.Now, cfg.CacheSize, cfg.CacheTTL = clk.Now, 100, time.Hour
	reg := prometheus.NewRegistry()
	v := newVerifier(t, cfg, quiet, reg)
	waitReady(t, v)
	ctx := context.Background()

	tok := iss.Token(iss.Claims("auth0|alice")) // "iss": the URL with its slash
	for range 2 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("token of the discovered issuer %q: got %v, want accepted", iss.URL, err)
		}
	}
	if h := metric(t, reg, "token_cache_hits_total"); h != 1 {
		t.Fatalf("cache hits: got %v, want 1", h)
	}

	// A token naming an unknown kid makes the verifier fetch again (once
	// per cooldown): first while the issuer is down, which makes the next
	// fetch start with discovery, then with the new document.
	k2 := jwtverifytest.NewRSAKey(t, "key-2", 1)
	refetch := func() {
		t.Helper()
		clk.Advance(jwtverify.DefaultUnknownKeyCooldown)
		_, _ = v.Verify(ctx, jwtverifytest.Sign(t, k2, jwtverifytest.Header(k2), iss.Claims("auth0|bob")))
	}
	discoveries := iss.DiscoveryHits.Load()
	iss.SetDown(true)
	refetch()
	iss.SetDown(false)
	iss.SetDiscovery(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, bare, iss.JWKSURL())
	})
	refetch()
	if iss.DiscoveryHits.Load() == discoveries {
		t.Fatalf("the issuer was not discovered again")
	}

	if _, err := v.Verify(ctx, tok); reasonOf(t, err) != domain.ReasonIssuer {
		t.Errorf("cached token whose iss the new configuration refuses: got %v, want %s", err, domain.ReasonIssuer)
	}
	c := iss.Claims("auth0|carol")
	c["iss"] = bare
	if _, err := v.Verify(ctx, iss.Token(c)); err != nil {
		t.Errorf("token naming the newly discovered issuer %q: got %v, want accepted", bare, err)
	}
}
