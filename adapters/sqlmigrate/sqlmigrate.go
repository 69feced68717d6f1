// Package sqlmigrate is what the SQL message stores (adapters/sqlite and
// adapters/postgres) share about their schema: the numbered migration
// files each embeds, and the error for a database migrated by a newer
// program. Each store applies the migrations itself, in its own
// transaction and lock.
package sqlmigrate

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Migration is one file of migrations/: NNNN_name.sql.
type Migration struct {
	Version int
	Name    string // the file's name, as recorded in schema_migrations
	SQL     string
}

// Load returns the migrations in fsys's migrations/ folder in version
// order. They must be numbered 0001, 0002, ... without gaps.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for i, name := range names { // fs.Glob sorts
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want a name like %04d_what.sql", base, i+1)
		}
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: base, SQL: string(text)})
	}
	return out, nil
}

// SchemaError is a database whose schema is newer than this program: it
// was migrated by a later version, which may store what this one cannot
// read. Nothing is changed.
type SchemaError struct {
	Database, Known int
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("the database schema is at version %d, newer than this program knows (%d): run the newer program, or use another database", e.Database, e.Known)
}
