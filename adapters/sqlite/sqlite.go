// Package sqlite keeps messages in an SQLite database file, the embedded
// default: modernc.org/sqlite (pure Go, no cgo), WAL mode so readers never
// wait for the writer, synchronous=FULL so a post answered 201 survives a
// crash or power cut, a busy timeout, and one writer connection. The
// schema comes from the versioned SQL files in migrations/, applied by
// Open.
//
// One process owns a database file; for several instances use
// adapters/postgres.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.MessageStore = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// busyTimeout is how long a statement waits for a lock held by another
// connection (or process) before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Store is a ports.MessageStore in an SQLite file, safe for concurrent use.
type Store struct {
	write *sql.DB // exactly one connection: SQLite has one writer anyway
	read  *sql.DB // read-only connections, several at once under WAL

	insert, remove, get, listFirst, listAfter *sql.Stmt

	newest newestCache
}

// Open opens (creating it and its directory if need be) the database at
// path, brings its schema up to date and returns the store. A schema newer
// than this program's is an error (*SchemaError); so is a path that cannot
// be created or opened.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":") {
		return nil, fmt.Errorf("sqlite: %q is not a file path (no ?, # or leading :)", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Create the file private before SQLite does (it would use 0644); the
	// -wal and -shm files take its mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())
	write, err := sql.Open("sqlite", path+"?"+pragmas+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	s := &Store{write: write}
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}

	read, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := 2 * runtime.GOMAXPROCS(0)
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxIdleTime(0)
	s.read = read

	if err := s.newest.open(ctx, read, path); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		db   *sql.DB
		sql  string
	}{
		// The count and the insert are one statement, so they happen
		// under one write lock: two posts at quota-1 cannot both pass.
		{&s.insert, write, `INSERT INTO messages (id, author_issuer, author, text, created_at)
			SELECT ?1, ?2, ?3, ?4, ?5
			WHERE (SELECT count(*) FROM messages WHERE author_issuer = ?2 AND author = ?3) < ?6`},
		{&s.remove, write, `DELETE FROM messages WHERE id = ?`},
		{&s.get, read, `SELECT id, author_issuer, author, text, created_at FROM messages WHERE id = ?`},
		{&s.listFirst, read, `SELECT id, author_issuer, author, text, created_at FROM messages
			ORDER BY created_at DESC, id DESC LIMIT ?`},
		{&s.listAfter, read, `SELECT id, author_issuer, author, text, created_at FROM messages
			WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?`},
	} {
		if *p.stmt, err = p.db.PrepareContext(ctx, p.sql); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlite: %s: %w", path, err)
		}
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	var errs []error
	errs = append(errs, s.newest.close())
	for _, db := range []*sql.DB{s.read, s.write} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// Ready implements ports.Readiness: an open SQLite file is always there.
func (s *Store) Ready(context.Context) error { return nil }

// Add implements ports.MessageStore.
func (s *Store) Add(ctx context.Context, m domain.Message, perAuthor int) error {
	res, err := s.insert.ExecContext(ctx, m.ID, m.AuthorIssuer, m.Author, m.Text, m.CreatedAt.UnixMicro(), perAuthor)
	if err != nil {
		return wrap("adding a message", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("adding a message", err)
	} else if n == 0 {
		return &domain.QuotaError{Limit: perAuthor}
	}
	s.newest.wrote()
	return nil
}

// List implements ports.MessageStore. The newest page comes from a cache
// while the database is unchanged (newest.go).
func (s *Store) List(ctx context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error) {
	if after == nil {
		return s.newest.get(ctx, limit, s.list)
	}
	return s.list(ctx, after, limit)
}

func (s *Store) list(ctx context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error) {
	var rows *sql.Rows
	var err error
	if after == nil {
		rows, err = s.listFirst.QueryContext(ctx, limit)
	} else {
		rows, err = s.listAfter.QueryContext(ctx, after.CreatedAt.UnixMicro(), after.ID, limit)
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
	m, err := scan(s.get.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Message{}, fmt.Errorf("sqlite: message %q: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Message{}, wrap("reading a message", err)
	}
	return m, nil
}

// Delete implements ports.MessageStore.
func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.remove.ExecContext(ctx, id)
	if err != nil {
		return wrap("deleting a message", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("deleting a message", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: message %q: %w", id, domain.ErrNotFound)
	}
	s.newest.wrote()
	return nil
}

func scan(row interface{ Scan(...any) error }) (domain.Message, error) {
	var m domain.Message
	var micros int64
	if err := row.Scan(&m.ID, &m.AuthorIssuer, &m.Author, &m.Text, &micros); err != nil {
		return domain.Message{}, err
	}
	m.CreatedAt = time.UnixMicro(micros).UTC()
	return m, nil
}

// wrap says what failed. A locked, full or unreadable database is
// unavailable (503, retry later) rather than broken.
func wrap(doing string, err error) error {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED, sqlite3lib.SQLITE_FULL, sqlite3lib.SQLITE_IOERR, sqlite3lib.SQLITE_CANTOPEN:
			return fmt.Errorf("sqlite: %s: %w: %w", doing, domain.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", doing, err)
}
