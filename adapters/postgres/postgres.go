// Package postgres keeps the API's data in PostgreSQL, for running several
// instances of the API on one database: github.com/jackc/pgx/v5 with its
// connection pool. Open opens the database once; the schema comes from the
// versioned SQL files in migrations/ (one sequence for every table),
// applied at start-up under an advisory lock so that instances starting
// together apply them once. Each resource's store comes from the DB
// (DB.Messages) and keeps its SQL in its own file here.
//
// A database that cannot be reached does not stop the API: Open returns a
// DB whose stores answer domain.ErrUnavailable (and which is not Ready)
// while it connects in the background, and work as soon as the database
// does.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/example/spaapi/domain"
)

// Timings of connecting.
const (
	connectTimeout = 5 * time.Second  // one attempt to connect
	firstRetry     = time.Second      // back-off after the first failure…
	maxRetry       = 15 * time.Second // …doubling up to this
	pingTimeout    = 2 * time.Second  // Ready's check
)

// DB is a PostgreSQL database: one connection pool that every resource's
// store shares. Safe for concurrent use.
type DB struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	where    string // host/database, for logs; never the password
	migrated atomic.Bool
	lastErr  atomic.Pointer[error] // why it is not migrated yet, for Ready
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// Open returns the database at rawURL and starts connecting to it. If the
// first attempt fails to connect, it keeps trying in the background until
// ctx ends or Close is called (its stores answer domain.ErrUnavailable
// until then). Errors: a URL that cannot be used, and a database that
// answers but refuses: a wrong password, a missing database, a schema
// newer than this program (*SchemaError).
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*DB, error) {
	where, err := ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: settings not accepted", where)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > connectTimeout {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), cfg) // connects lazily
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	}
	ctx, stop := context.WithCancel(ctx)
	s := &DB{pool: pool, log: log, where: where, stop: stop}
	err = s.connect(ctx)
	switch {
	case err != nil && !unreachable(err):
		// The database answered, and refused: a newer schema, a wrong
		// password, a missing database. Settings to fix, not to wait for.
		s.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	case err != nil:
		log.Warn("database not reachable yet; what needs it answers 503 until it is, retrying in the background",
			"database", where, "error", err)
		s.wg.Go(func() { s.retry(ctx) })
	}
	return s, nil
}

// connect checks the connection and applies migrations once.
func (s *DB) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*connectTimeout)
	defer cancel()
	err := migrate(ctx, s.pool)
	if err != nil {
		s.lastErr.Store(&err)
		return err
	}
	s.migrated.Store(true)
	return nil
}

// retry connects with back-off until it succeeds or ctx ends.
func (s *DB) retry(ctx context.Context) {
	wait := firstRetry
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := s.connect(ctx)
		if err == nil {
			s.log.Info("database reachable", "database", s.where)
			return
		}
		if ctx.Err() != nil {
			return
		}
		level := slog.LevelWarn
		if !unreachable(err) {
			level = slog.LevelError // it will not go away by itself
		}
		s.log.Log(ctx, level, "database still not usable", "database", s.where, "error", err, "retry_in", wait.String())
		wait = min(2*wait, maxRetry)
	}
}

// Close stops connecting and closes the pool.
func (s *DB) Close() {
	s.stop()
	s.wg.Wait()
	s.pool.Close()
}

// unavailable is the error of every call before the first connection.
func (s *DB) unavailable() error {
	if p := s.lastErr.Load(); p != nil {
		return fmt.Errorf("postgres: %w: not connected yet: %w", domain.ErrUnavailable, *p)
	}
	return fmt.Errorf("postgres: %w: not connected yet", domain.ErrUnavailable)
}

// Ready implements ports.Readiness: migrated, and the database answers.
func (s *DB) Ready(ctx context.Context) error {
	if !s.migrated.Load() {
		return s.unavailable()
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w: %w", domain.ErrUnavailable, err)
	}
	return nil
}

// unreachable reports whether err means the database could not be
// reached or cannot serve yet, rather than that it answered with an error.
func unreachable(err error) bool {
	return errors.Is(wrap("", err), domain.ErrUnavailable)
}

// wrap says what failed. Errors of the connection rather than of the
// statement — the server unreachable, shutting down, out of connections —
// are domain.ErrUnavailable (503, retry later).
func wrap(doing string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		switch {
		case pgErr.Code[:2] == "08", // connection exception
			pgErr.Code == "53300",                                               // too many connections
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutting down, cannot connect now
			return fmt.Errorf("postgres: %s: %w: %w", doing, domain.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %s: %w", doing, err)
	case errors.Is(err, context.Canceled), errors.As(err, new(*SchemaError)):
		return fmt.Errorf("postgres: %s: %w", doing, err)
	}
	// No answer from the server: dial, TLS, timeouts, a dropped connection.
	return fmt.Errorf("postgres: %s: %w: %w", doing, domain.ErrUnavailable, err)
}
