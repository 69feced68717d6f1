// Package sqlite keeps the API's data in an SQLite database file, the
// embedded default: modernc.org/sqlite (pure Go, no cgo), WAL mode so
// readers never wait for the writer, synchronous=FULL so a write answered
// 2xx survives a crash or power cut, a busy timeout, and one writer
// connection. Open opens the file once and brings its schema up to date
// from the versioned SQL files in migrations/ (one sequence for every
// table); each resource's store comes from the DB (DB.Messages) and keeps
// its SQL in its own file here.
//
// One process owns a database file: Open locks it (a lock file beside it,
// lock.go), and a second process's Open fails with an *InUseError. For
// several instances use adapters/postgres.
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
	"sync"
	"time"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/example/spaapi/domain"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// busyTimeout is how long a statement waits for a lock held by another
// connection (or process) before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// DB is an open SQLite database file: one writer connection and a pool
// of readers that every resource's store shares. Safe for concurrent use.
type DB struct {
	path  string
	lock  *fileLock
	write *sql.DB // exactly one connection: SQLite has one writer anyway
	read  *sql.DB // read-only connections, several at once under WAL

	mu      sync.Mutex
	closers []func() error // the stores' statements and connections
}

// Open opens (creating it and its directory if need be) the database at
// path, locks it for this process and brings its schema up to date. A
// file another process has open is an error (*InUseError, its text
// without a "sqlite:" prefix), as is a schema newer than this program's
// (*SchemaError) and a path that cannot be created or opened.
func Open(ctx context.Context, path string) (db *DB, err error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":") {
		return nil, fmt.Errorf("sqlite: %q is not a file path (no ?, # or leading :)", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// The lock first: a second process touches nothing.
	lock, err := lockDatabase(path)
	if err != nil {
		var inUse *InUseError
		if errors.As(err, &inUse) {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()
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
	db = &DB{path: path, lock: lock, write: write}
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
	db.read = read
	return db, nil
}

// Close closes every store's statements, then the database.
func (db *DB) Close() error {
	db.mu.Lock()
	closers := db.closers
	db.closers = nil
	db.mu.Unlock()
	var errs []error
	for _, c := range closers {
		errs = append(errs, c())
	}
	for _, c := range []*sql.DB{db.read, db.write} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	if db.lock != nil {
		errs = append(errs, db.lock.release())
		db.lock = nil
	}
	return errors.Join(errs...)
}

// Ready implements ports.Readiness: an open SQLite file is always there.
func (db *DB) Ready(context.Context) error { return nil }

// onClose has Close call c, before it closes the database.
func (db *DB) onClose(c func() error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.closers = append(db.closers, c)
}

// statement is one SQL statement a store prepares, into *stmt: on the
// writer connection (write) or on the readers.
type statement struct {
	stmt  **sql.Stmt
	write bool
	sql   string
}

// prepare prepares a store's statements, closed with the database. Each
// resource prepares its own (in its own file), when the DB hands out its
// store.
func (db *DB) prepare(ctx context.Context, stmts ...statement) error {
	for _, p := range stmts {
		on := db.read
		if p.write {
			on = db.write
		}
		s, err := on.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", db.path, err)
		}
		db.onClose(s.Close)
		*p.stmt = s
	}
	return nil
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
