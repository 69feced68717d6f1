package auth0

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// register adds the verifier's metrics to reg: key fetches by result, the
// key set's size and age, and the token cache's counters and size.
func (v *Verifier) register(reg prometheus.Registerer) error {
	v.keys.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwks_fetches_total",
		Help: "Fetches of the issuer's discovery document and JWKS, by result (ok, error).",
	}, []string{"result"})
	for _, r := range []string{"ok", "error"} {
		v.keys.fetches.WithLabelValues(r)
	}
	collectors := []prometheus.Collector{
		v.keys.fetches,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwks_keys",
			Help: "Usable signing keys in the current key set.",
		}, func() float64 { return float64(v.keys.keysCount.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwks_age_seconds",
			Help: "Seconds since the key set was last fetched successfully (+Inf before the first success).",
		}, func() float64 {
			if !v.keys.loaded.Load() {
				return math.Inf(1)
			}
			return v.cfg.Now().Sub(time.Unix(0, v.keys.loadedAt.Load())).Seconds()
		}),
	}
	if c := v.cache; c != nil {
		counter := func(name, help string, f func() uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
		}
		collectors = append(collectors,
			counter("token_cache_hits_total", "Verified-token cache hits.", c.hits.Load),
			counter("token_cache_misses_total", "Verified-token cache misses (full verifications).", c.misses.Load),
			counter("token_cache_evictions_total", "Entries evicted to keep the cache within TOKEN_CACHE_SIZE.", c.evictions.Load),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "token_cache_entries",
				Help: "Entries in the verified-token cache.",
			}, func() float64 { return float64(c.len()) }),
		)
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
