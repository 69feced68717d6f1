package ports

// Stores are the stores of one database, a store per resource, as cmd/api
// opens them from DATABASE_URL: adapters/sqlite, adapters/postgres and
// adapters/memory each open their database once (one pool, one lock, one
// migration sequence) and hand out a store for each resource. It is not a
// port itself but the bundle of them the injectors take, so that a new
// resource adds a field here instead of a parameter to every call site.
type Stores struct {
	// Database is ready when the database is reachable and migrated, for
	// /readyz: every store below answers domain.ErrUnavailable until then.
	Database Readiness

	Messages MessageStore
}
