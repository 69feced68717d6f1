// Package postgres keeps messages in PostgreSQL, for running several
// instances of the API on one database: github.com/jackc/pgx/v5 with its
// connection pool. The schema comes from the versioned SQL files in
// migrations/, applied at start-up under an advisory lock so that
// instances starting together apply them once.
//
// A database that cannot be reached does not stop the API: Open returns a
// store that answers domain.ErrUnavailable (and is not Ready) while it
// connects in the background, and works as soon as the database does.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.MessageStore = (*Store)(nil)

// Timings of connecting.
const (
	connectTimeout = 5 * time.Second  // one attempt to connect
	firstRetry     = time.Second      // back-off after the first failure…
	maxRetry       = 15 * time.Second // …doubling up to this
	pingTimeout    = 2 * time.Second  // Ready's check
)

// authorLocks is the first key of the transaction-scoped advisory locks
// that serialize one author's posts (the second is a hash of the author).
// Two-key advisory locks never collide with the one-key migration lock.
const authorLocks = 0x7370_6d73 // "spms"

// Store is a ports.MessageStore in PostgreSQL, safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	where    string // host/database, for logs; never the password
	migrated atomic.Bool
	lastErr  atomic.Pointer[error] // why it is not migrated yet, for Ready
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// Open returns the store for the database at rawURL and starts connecting
// to it. If the first attempt fails to connect, the store keeps trying in
// the background until ctx ends or Close is called. Errors: a URL that
// cannot be used, and a database that answers but refuses: a wrong
// password, a missing database, a schema newer than this program
// (*SchemaError).
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*Store, error) {
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
	s := &Store{pool: pool, log: log, where: where, stop: stop}
	err = s.connect(ctx)
	switch {
	case err != nil && !unreachable(err):
		// The database answered, and refused: a newer schema, a wrong
		// password, a missing database. Settings to fix, not to wait for.
		s.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	case err != nil:
		log.Warn("message database not reachable yet; messages answer 503 until it is, retrying in the background",
			"database", where, "error", err)
		s.wg.Go(func() { s.retry(ctx) })
	}
	return s, nil
}

// connect checks the connection and applies migrations once.
func (s *Store) connect(ctx context.Context) error {
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
func (s *Store) retry(ctx context.Context) {
	wait := firstRetry
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := s.connect(ctx)
		if err == nil {
			s.log.Info("message database reachable", "database", s.where)
			return
		}
		if ctx.Err() != nil {
			return
		}
		level := slog.LevelWarn
		if !unreachable(err) {
			level = slog.LevelError // it will not go away by itself
		}
		s.log.Log(ctx, level, "message database still not usable", "database", s.where, "error", err, "retry_in", wait.String())
		wait = min(2*wait, maxRetry)
	}
}

// Close stops connecting and closes the pool.
func (s *Store) Close() {
	s.stop()
	s.wg.Wait()
	s.pool.Close()
}

// unavailable is the error of every call before the first connection.
func (s *Store) unavailable() error {
	if p := s.lastErr.Load(); p != nil {
		return fmt.Errorf("postgres: %w: not connected yet: %w", domain.ErrUnavailable, *p)
	}
	return fmt.Errorf("postgres: %w: not connected yet", domain.ErrUnavailable)
}

// Ready implements ports.Readiness: migrated, and the database answers.
func (s *Store) Ready(ctx context.Context) error {
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

const columns = `id, author_issuer, author, text, created_at`

// Add implements ports.MessageStore. The author's advisory lock makes the
// count and the insert one step for that author; other authors' posts do
// not wait.
func (s *Store) Add(ctx context.Context, m domain.Message, perAuthor int) error {
	if !s.migrated.Load() {
		return s.unavailable()
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, hashtext($2::text || ' ' || $3::text))`,
			authorLocks, m.AuthorIssuer, m.Author); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO messages (`+columns+`)
			SELECT $1, $2, $3, $4, $5
			WHERE (SELECT count(*) FROM messages WHERE author_issuer = $2 AND author = $3) < $6`,
			m.ID, m.AuthorIssuer, m.Author, m.Text, m.CreatedAt, perAuthor)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &domain.QuotaError{Limit: perAuthor}
		}
		return nil
	})
	if errors.As(err, new(*domain.QuotaError)) {
		return err
	}
	return wrap("adding a message", err)
}

// List implements ports.MessageStore.
func (s *Store) List(ctx context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error) {
	if !s.migrated.Load() {
		return nil, s.unavailable()
	}
	var rows pgx.Rows
	var err error
	if after == nil {
		rows, err = s.pool.Query(ctx, `SELECT `+columns+` FROM messages
			ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+columns+` FROM messages
			WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT $3`, after.CreatedAt, after.ID, limit)
	}
	if err != nil {
		return nil, wrap("listing messages", err)
	}
	defer rows.Close()
	out := make([]domain.Message, 0, min(limit, 128))
	for rows.Next() {
		m, err := scan(rows)
		if err != nil {
			return nil, wrap("listing messages", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("listing messages", err)
	}
	return out, nil
}

// Get implements ports.MessageStore.
func (s *Store) Get(ctx context.Context, id string) (domain.Message, error) {
	if !s.migrated.Load() {
		return domain.Message{}, s.unavailable()
	}
	m, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM messages WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Message{}, fmt.Errorf("postgres: message %q: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Message{}, wrap("reading a message", err)
	}
	return m, nil
}

// Delete implements ports.MessageStore.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !s.migrated.Load() {
		return s.unavailable()
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM messages WHERE id = $1`, id)
	if err != nil {
		return wrap("deleting a message", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: message %q: %w", id, domain.ErrNotFound)
	}
	return nil
}

func scan(row pgx.Row) (domain.Message, error) {
	var m domain.Message
	if err := row.Scan(&m.ID, &m.AuthorIssuer, &m.Author, &m.Text, &m.CreatedAt); err != nil {
		return domain.Message{}, err
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return m, nil
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
