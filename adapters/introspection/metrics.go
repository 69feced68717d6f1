package introspection

import "github.com/prometheus/client_golang/prometheus"

// register adds the verifier's metrics to reg: requests to the endpoint
// by result, and the answer cache's counters and size (under the names
// the JWT providers' token cache uses).
func (v *Verifier) register(reg prometheus.Registerer) error {
	for _, r := range []string{"active", "inactive", "error"} {
		v.results.WithLabelValues(r)
	}
	collectors := []prometheus.Collector{v.results}
	if c := v.cache; c != nil {
		collectors = append(collectors,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "token_cache_hits_total", Help: "Introspection answer cache hits."},
				func() float64 { return float64(c.hits.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "token_cache_misses_total", Help: "Introspection answer cache misses."},
				func() float64 { return float64(c.misses.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "token_cache_entries", Help: "Entries in the introspection answer cache."},
				func() float64 { return float64(c.len()) }),
		)
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
