package jwtverify

import (
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

func TestCacheEntryChecks(t *testing.T) {
	c := newTokenCache(100, time.Hour)
	now := time.Now()
	key := [32]byte{1}
	c.put(key, cacheEntry{principal: domain.Principal{Subject: "s"}, until: now.Add(time.Minute),
		notBefore: now.Add(-time.Minute), gen: 3}, now)

	for _, tc := range []struct {
		name string
		now  time.Time
		gen  uint64
		hit  bool
	}{
		{"valid", now, 3, true},
		{"another configuration generation", now, 4, false},
		{"before nbf", now.Add(-2 * time.Minute), 3, false},
		{"at its end", now.Add(time.Minute), 3, false},
	} {
		c.put(key, cacheEntry{principal: domain.Principal{Subject: "s"}, until: now.Add(time.Minute),
			notBefore: now.Add(-time.Minute), gen: 3}, now)
		if _, hit := c.get(key, tc.now, tc.gen); hit != tc.hit {
			t.Errorf("%s: hit %v, want %v", tc.name, hit, tc.hit)
		}
	}
	if _, hit := c.get([32]byte{2}, now, 3); hit {
		t.Errorf("unknown key hit")
	}
}

func TestCacheTTLCapsEntries(t *testing.T) {
	c := newTokenCache(100, time.Minute)
	now := time.Now()
	c.put([32]byte{1}, cacheEntry{until: now.Add(time.Hour)}, now)
	if _, hit := c.get([32]byte{1}, now.Add(61*time.Second), 0); hit {
		t.Errorf("entry outlived the TTL")
	}
}

func TestNoCacheWhenSizeIsZero(t *testing.T) {
	if newTokenCache(0, time.Minute) != nil || newTokenCache(-1, time.Minute) != nil {
		t.Errorf("want no cache for sizes <= 0")
	}
}
