package postgres

import (
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
)

// The pool's size by default: four connections per CPU the process may
// use (GOMAXPROCS), which keeps the CPUs busy while queries wait on the
// network and the server, within these bounds.
const (
	// MinDefaultMaxConns: even on one CPU, room for a few slow writers
	// (each holds a connection for its transaction) beside the readers.
	MinDefaultMaxConns = 8
	// MaxDefaultMaxConns: PostgreSQL's default max_connections is 100, 3
	// of them kept for superusers; four instances and a fifth during a
	// rolling deploy take 80 at this size, leaving 17 for migrations,
	// psql, backups and monitoring.
	MaxDefaultMaxConns = 16
	// MaxMaxConns is the most a pool may be given (DATABASE_MAX_CONNS):
	// beyond it, more connections only make the server switch between
	// them.
	MaxMaxConns = 1000
	// ConnBytes is what one open connection of the pool holds in the Go
	// heap at most: 86-87 KiB measured after reading the largest page of
	// messages and running a post's statements on it
	// (BenchmarkConnBytes), counted with some room.
	ConnBytes = 96 << 10
)

// DefaultMaxConns is the pool size for procs CPUs (GOMAXPROCS) when
// neither Options.MaxConns nor the URL's pool_max_conns set it.
func DefaultMaxConns(procs int) int {
	return min(max(4*procs, MinDefaultMaxConns), MaxDefaultMaxConns)
}

// URLMaxConns returns the pool_max_conns parameter of a URL ParseURL
// accepted (pgx's own setting of the pool size), and whether it has one.
func URLMaxConns(rawURL string) (int, bool) {
	cfg, err := pgconn.ParseConfig(rawURL)
	if err != nil {
		return 0, false
	}
	v, ok := cfg.RuntimeParams["pool_max_conns"]
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, false // ParseURL has refused it already
	}
	return n, true
}

// Options are the settings of Open that the URL does not hold. The zero
// value is the defaults.
type Options struct {
	// MaxConns is the most connections the pool opens. 0: the URL's
	// pool_max_conns if it has one, else DefaultMaxConns(GOMAXPROCS).
	MaxConns int
}
