package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/example/spaapi/adapters/sqlmigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the key of the advisory lock held while migrating.
const migrationLock int64 = 0x7370_6161_7069_6d67 // "spaapimg"

// SchemaError is a database whose schema is newer than this program.
type SchemaError = sqlmigrate.SchemaError

// SchemaVersion is the newest migration's version, from the embedded
// migration files: the version Open brings a database to.
func SchemaVersion() (int, error) {
	all, err := sqlmigrate.Load(migrationFiles)
	return len(all), err
}

// migrate applies the migrations the database lacks in one transaction
// that first takes an advisory lock: an instance starting at the same time
// waits, then finds them applied. PostgreSQL's DDL is transactional, so a
// failure leaves the schema as it was.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	all, err := sqlmigrate.Load(migrationFiles)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		if current > len(all) {
			return &SchemaError{Database: current, Known: len(all)}
		}
		for _, m := range all[current:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
