package postgres

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/postgres/postgrestest"
	"github.com/example/spaapi/domain"
)

func TestDefaultMaxConns(t *testing.T) {
	for procs, want := range map[int]int{1: 8, 2: 8, 3: 12, 4: 16, 8: 16, 64: 16} {
		if got := DefaultMaxConns(procs); got != want {
			t.Errorf("DefaultMaxConns(%d): got %d, want %d", procs, got, want)
		}
	}
}

func TestURLMaxConns(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want int
		ok   bool
	}{
		{"postgres://u@db/app", 0, false},
		{"postgres://u@db/app?sslmode=disable&pool_max_conns=12", 12, true},
		{"postgresql://u@db/app?pool_max_conns=1", 1, true},
	} {
		if got, ok := URLMaxConns(tc.url); got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %d, %v; want %d, %v", tc.url, got, ok, tc.want, tc.ok)
		}
	}
}

// The pool's size: Options.MaxConns, else the URL's pool_max_conns, else
// the default for GOMAXPROCS (pgx's own default would be 4).
func TestPoolSize(t *testing.T) {
	dbURL := postgrestest.URL(t)
	for _, tc := range []struct {
		name string
		url  string
		opts Options
		want int32
	}{
		{"default", dbURL, Options{}, int32(DefaultMaxConns(runtime.GOMAXPROCS(0)))},
		{"pool_max_conns", dbURL + "&pool_max_conns=3", Options{}, 3},
		{"MaxConns", dbURL, Options{MaxConns: 5}, 5},
		{"MaxConns wins over pool_max_conns", dbURL + "&pool_max_conns=3", Options{MaxConns: 6}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(context.Background(), tc.url, tc.opts, quietLog)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := db.pool.Stat().MaxConns(); got != tc.want {
				t.Errorf("got a pool of %d, want %d", got, tc.want)
			}
		})
	}
}

// BenchmarkConnBytes reports what one connection of the pool holds in
// the Go heap (ConnBytes counts it for the memory plan): the live heap
// after opening 32 connections and running on each a read of the largest
// page of messages (101 of an x and 499 U+2028) and a post's statements,
// over the heap before, per connection.
//
//	go test -run '^$' -bench ConnBytes -benchtime 1x ./adapters/postgres/
func BenchmarkConnBytes(b *testing.B) {
	dbURL := postgrestest.URL(b)
	db, err := Open(context.Background(), dbURL, Options{MaxConns: 2}, quietLog)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	text := "x" + strings.Repeat("\u2028", 499)
	for i := range 101 {
		m, err := domain.NewMessage(fmt.Sprintf("%024x", i), domain.Principal{Issuer: floodIssuer, Subject: fmt.Sprint(i % 10)}, text, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Messages().Add(context.Background(), m, 1000); err != nil {
			b.Fatal(err)
		}
	}
	const n = 32
	for range b.N {
		before := liveHeap()
		pool, err := Open(context.Background(), dbURL, Options{MaxConns: n}, quietLog)
		if err != nil {
			b.Fatal(err)
		}
		var conns []interface{ Release() }
		for range n {
			c, err := pool.pool.Acquire(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			rows, err := c.Query(context.Background(), `SELECT `+messageColumns+` FROM messages ORDER BY created_at DESC, id DESC LIMIT 101`)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				if _, err := scanMessage(rows); err != nil {
					b.Fatal(err)
				}
			}
			rows.Close()
			// And a post's statements, refused at a quota of 0.
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{"BEGIN ISOLATION LEVEL READ COMMITTED", nil},
				{`SELECT pg_advisory_xact_lock($1::int, hashtext($2::text || ' ' || $3::text))`, []any{authorLocks, floodIssuer, "0"}},
				{`INSERT INTO messages (` + messageColumns + `) SELECT $1, $2, $3, $4, $5
					WHERE (SELECT count(*) FROM messages WHERE author_issuer = $2 AND author = $3) < $6`, []any{"ff", floodIssuer, "0", text, time.Now(), 0}},
				{"COMMIT", nil},
			} {
				if _, err := c.Exec(context.Background(), q.sql, q.args...); err != nil {
					b.Fatal(err)
				}
			}
		}
		for _, c := range conns {
			c.Release()
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before)/n, "B/conn")
		b.ReportMetric(float64(ConnBytes), "counted-B/conn")
		pool.Close()
	}
}

// liveHeap is the bytes of live objects and goroutine stacks after two
// collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}
