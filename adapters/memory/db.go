package memory

import "context"

// DB is a database in the process's memory (DATABASE_URL=memory:): it
// hands out a store per resource, as adapters/sqlite and adapters/postgres
// do, each empty, bounded and lost on restart.
type DB struct{}

// NewDB returns an empty in-memory database.
func NewDB() *DB { return &DB{} }

// Ready implements ports.Readiness: memory is always there.
func (*DB) Ready(context.Context) error { return nil }

// Messages returns a new, empty store of at most MaxMessages messages.
// Each call makes another store: call it once per database.
func (*DB) Messages() *Messages { return NewMessages() }
