package jwtverify

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// register adds the verifier's metrics to reg, summed over its issuers:
// key fetches by result, key set sizes and the oldest set's age, and the
// token cache's counters and size.
func (v *Verifier) register(reg prometheus.Registerer, fetches *prometheus.CounterVec) error {
	for _, r := range []string{"ok", "error"} {
		fetches.WithLabelValues(r)
	}
	sum := func(f func(*issuer) float64) func() float64 {
		return func() float64 {
			total := 0.0
			for _, iss := range v.issuers {
				total += f(iss)
			}
			return total
		}
	}
	collectors := []prometheus.Collector{
		fetches,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwks_keys",
			Help: "Usable signing keys in the current key sets.",
		}, sum(func(iss *issuer) float64 { return float64(iss.keys.keysCount.Load()) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwks_age_seconds",
			Help: "Seconds since the oldest issuer's key set was last fetched successfully (+Inf before the first success).",
		}, func() float64 {
			oldest := 0.0
			for _, iss := range v.issuers {
				if !iss.keys.loaded.Load() {
					return math.Inf(1)
				}
				oldest = max(oldest, v.opts.Now().Sub(time.Unix(0, iss.keys.loadedAt.Load())).Seconds())
			}
			return oldest
		}),
	}
	if v.opts.CacheSize > 0 {
		counter := func(name, help string, f func(*tokenCache) uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
				sum(func(iss *issuer) float64 { return float64(f(iss.cache)) }))
		}
		collectors = append(collectors,
			counter("token_cache_hits_total", "Verified-token cache hits.", func(c *tokenCache) uint64 { h, _ := c.hitsAndMisses(); return h }),
			counter("token_cache_misses_total", "Verified-token cache misses (full verifications).", func(c *tokenCache) uint64 { _, m := c.hitsAndMisses(); return m }),
			counter("token_cache_evictions_total", "Entries evicted to keep the cache within TOKEN_CACHE_SIZE.", func(c *tokenCache) uint64 { return c.evictions.Load() }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "token_cache_entries",
				Help: "Entries in the verified-token cache.",
			}, sum(func(iss *issuer) float64 { return float64(iss.cache.len()) })),
		)
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
