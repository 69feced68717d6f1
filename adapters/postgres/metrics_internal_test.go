package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/postgres/postgrestest"
)

// scrape returns each metric of reg by its name and, for
// db_pool_connections, "db_pool_connections/<state>".
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			switch {
			case m.Gauge != nil:
				out[name] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[name] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// The metrics follow the pool and the gate: connections in use, a
// request that found none idle and waited until its client went away,
// and a write queued behind its author's.
func TestPoolAndGateMetrics(t *testing.T) {
	db := openDB(t, postgrestest.URL(t), 2)
	reg := prometheus.NewPedanticRegistry()
	for _, c := range db.Collectors() {
		reg.MustRegister(c)
	}
	before := scrape(t, reg)
	if before["db_pool_max_connections"] != 2 || before["db_pool_connections/acquired"] != 0 || before["db_pool_connections/idle"] != 2 {
		t.Fatalf("at rest: %v; want max 2, 0 acquired, 2 idle", before)
	}

	// Both connections taken; a third request waits until it gives up.
	var held []*pgxpool.Conn
	for range 2 {
		c, err := db.pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := db.pool.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third acquisition: got %v, want it to wait until its deadline", err)
	}
	during := scrape(t, reg)
	// A fourth waits until one is given back 50 ms later.
	go func() {
		time.Sleep(50 * time.Millisecond)
		held[0].Release()
	}()
	c, err := db.pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	held[1].Release()
	waited := scrape(t, reg)
	if during["db_pool_connections/acquired"] != 2 || during["db_pool_connections/idle"] != 0 {
		t.Errorf("both taken: acquired %v, idle %v; want 2, 0", during["db_pool_connections/acquired"], during["db_pool_connections/idle"])
	}
	if got := during["db_pool_acquires_total"] - before["db_pool_acquires_total"]; got != 2 {
		t.Errorf("db_pool_acquires_total grew by %v, want 2 (a canceled wait is not an acquisition)", got)
	}
	if got := during["db_pool_canceled_acquires_total"] - before["db_pool_canceled_acquires_total"]; got != 1 {
		t.Errorf("db_pool_canceled_acquires_total grew by %v, want 1", got)
	}
	if got := waited["db_pool_empty_acquires_total"] - during["db_pool_empty_acquires_total"]; got != 1 {
		t.Errorf("db_pool_empty_acquires_total grew by %v for one acquisition that waited, want 1", got)
	}
	if got := waited["db_pool_empty_acquire_wait_seconds_total"] - during["db_pool_empty_acquire_wait_seconds_total"]; got <= 0 || got > 5 {
		t.Errorf("db_pool_empty_acquire_wait_seconds_total grew by %v s for a wait of about 0.05 s", got)
	}

	// A write queued in the gate behind its author's.
	k := ownerKey{class: 1, issuer: "https://metrics.example/", subject: uniqueSubject("metrics")}
	leave := mustEnter(t, db.owners, k)
	entered := make(chan func())
	go func() {
		l, err := db.owners.enter(context.Background(), k)
		if err != nil {
			t.Error(err)
			l = func() {}
		}
		entered <- l
	}()
	waitFor(t, "the second write queues", func() bool { return db.owners.stats().waiting == 1 })
	queued := scrape(t, reg)
	if queued["db_owner_gate_owners"] != 1 || queued["db_owner_gate_waiting"] != 1 {
		t.Errorf("one queued: owners %v, waiting %v; want 1, 1", queued["db_owner_gate_owners"], queued["db_owner_gate_waiting"])
	}
	leave()
	(<-entered)()
	after := scrape(t, reg)
	if after["db_owner_gate_owners"] != 0 || after["db_owner_gate_waiting"] != 0 || after["db_owner_gate_waited_total"] != 1 {
		t.Errorf("after both: owners %v, waiting %v, waited %v; want 0, 0, 1",
			after["db_owner_gate_owners"], after["db_owner_gate_waiting"], after["db_owner_gate_waited_total"])
	}
}
