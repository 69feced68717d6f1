package postgres

import (
	"context"
	"runtime"
	"testing"

	"github.com/example/spaapi/adapters/postgres/postgrestest"
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
