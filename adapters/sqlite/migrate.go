package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/example/spaapi/adapters/sqlmigrate"
)

// SchemaError is a database whose schema is newer than this program.
type SchemaError = sqlmigrate.SchemaError

// SchemaVersion is the newest migration's version, from the embedded
// migration files: the version Open brings a database to.
func SchemaVersion() (int, error) {
	all, err := sqlmigrate.Load(migrationFiles)
	return len(all), err
}

// migrate applies the migrations the database lacks, all in one
// transaction begun IMMEDIATE (the write lock), so that two processes
// opening the file at once do not both apply them, and a failure leaves
// the schema as it was.
func migrate(ctx context.Context, db *sql.DB) error {
	all, err := sqlmigrate.Load(migrationFiles)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock=immediate)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at TEXT    NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if current > len(all) {
		return &SchemaError{Database: current, Known: len(all)}
	}
	for _, m := range all[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}
