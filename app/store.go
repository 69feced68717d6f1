package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/example/spaapi/domain"
)

// database names, for clients, what every store depends on: one database
// holds every resource's store (ports.Stores).
const database = "the database"

// storeError says what failed. A store that cannot be reached becomes a
// *domain.UnavailableError naming the database.
func storeError(doing string, err error) error {
	var unavailable *domain.UnavailableError
	if errors.Is(err, domain.ErrUnavailable) && !errors.As(err, &unavailable) {
		return &domain.UnavailableError{What: database, Cause: fmt.Errorf("%s: %w", doing, err)}
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// explainQuota gives a *domain.QuotaError in err the words of the
// resource that refused: what is counted (plural) and how the caller
// makes room. Other errors pass unchanged.
func explainQuota(err error, what, room string) error {
	var qe *domain.QuotaError
	if !errors.As(err, &qe) {
		return err
	}
	explained := *qe
	explained.What, explained.Room = what, room
	return &explained
}

// Page sizes of every list.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// checkPageSize refuses a page size outside 1 to MaxPageSize.
func checkPageSize(limit int) error {
	if limit < 1 || limit > MaxPageSize {
		return &domain.InputError{Field: "limit", Problem: fmt.Sprintf("must be from 1 to %d", MaxPageSize)}
	}
	return nil
}

// onePage trims items, asked of the store as limit+1 to tell whether
// more follow, to a page of at most limit, and returns with it the key to
// list the next page after (key of its last item), nil on the last page.
func onePage[T any](items []T, limit int, key func(T) domain.PageKey) ([]T, *domain.PageKey) {
	if len(items) <= limit {
		return items, nil
	}
	next := key(items[limit-1])
	return items[:limit], &next
}

// newID returns a random ID: 24 lowercase hex digits (the cursor format,
// adapters/httpapi, accepts IDs of lowercase hex only).
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
