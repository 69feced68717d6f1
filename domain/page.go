package domain

import "time"

// PageKey is a place in a newest-first list: by CreatedAt, then by ID for
// things created in the same microsecond. Lists are newest first, so
// "after a key" means older than it. Every resource listed page by page
// orders by it, so that one cursor format (adapters/httpapi) and one page
// size rule (app) serve them all.
type PageKey struct {
	CreatedAt time.Time
	ID        string
}

// Before reports whether k comes before o in newest-first order, that is
// whether k is newer.
func (k PageKey) Before(o PageKey) bool {
	if c := k.CreatedAt.Compare(o.CreatedAt); c != 0 {
		return c > 0
	}
	return k.ID > o.ID
}
