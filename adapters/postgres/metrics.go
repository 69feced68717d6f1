package postgres

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the pool's and the owner gate's metrics, read from them
// at each scrape: the connections by state and the most the pool opens,
// how often a request found none idle and how long it waited, and the
// requests queued in the gate (gate.go).
func (s *DB) Collectors() []prometheus.Collector {
	return []prometheus.Collector{poolCollector{s}}
}

var (
	poolConnsDesc = prometheus.NewDesc("db_pool_connections",
		"PostgreSQL pool connections by state: acquired (in use), idle, constructing.", []string{"state"}, nil)
	poolMaxDesc = prometheus.NewDesc("db_pool_max_connections",
		"The most connections the PostgreSQL pool opens (DATABASE_MAX_CONNS).", nil, nil)
	poolAcquiresDesc = prometheus.NewDesc("db_pool_acquires_total",
		"Connections taken from the PostgreSQL pool.", nil, nil)
	poolEmptyDesc = prometheus.NewDesc("db_pool_empty_acquires_total",
		"Connections taken from the PostgreSQL pool that had to wait: none was idle.", nil, nil)
	poolEmptyWaitDesc = prometheus.NewDesc("db_pool_empty_acquire_wait_seconds_total",
		"Time spent waiting by the acquisitions that found no idle connection.", nil, nil)
	poolCanceledDesc = prometheus.NewDesc("db_pool_canceled_acquires_total",
		"Waits for a pool connection that ended because their request did (client gone, timeout).", nil, nil)
	gateOwnersDesc = prometheus.NewDesc("db_owner_gate_owners",
		"Authors with a write in flight or queued in this instance's gate.", nil, nil)
	gateWaitingDesc = prometheus.NewDesc("db_owner_gate_waiting",
		"Writes queued in the gate behind another write of their author, holding no connection.", nil, nil)
	gateWaitedDesc = prometheus.NewDesc("db_owner_gate_waited_total",
		"Writes that queued in the gate behind another write of their author.", nil, nil)
)

// poolCollector reads the pool's and the gate's statistics once a scrape.
type poolCollector struct{ s *DB }

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolConnsDesc, poolMaxDesc, poolAcquiresDesc, poolEmptyDesc,
		poolEmptyWaitDesc, poolCanceledDesc, gateOwnersDesc, gateWaitingDesc, gateWaitedDesc} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(poolConnsDesc, float64(st.AcquiredConns()), "acquired")
	gauge(poolConnsDesc, float64(st.IdleConns()), "idle")
	gauge(poolConnsDesc, float64(st.ConstructingConns()), "constructing")
	gauge(poolMaxDesc, float64(st.MaxConns()))
	counter(poolAcquiresDesc, float64(st.AcquireCount()))
	counter(poolEmptyDesc, float64(st.EmptyAcquireCount()))
	counter(poolEmptyWaitDesc, st.EmptyAcquireWaitTime().Seconds())
	counter(poolCanceledDesc, float64(st.CanceledAcquireCount()))
	g := c.s.owners.stats()
	gauge(gateOwnersDesc, float64(g.owners))
	gauge(gateWaitingDesc, float64(g.waiting))
	counter(gateWaitedDesc, float64(g.waited))
}
