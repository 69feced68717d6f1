package app

import (
	"context"
	"errors"
	"strings"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Health reports whether the service can do its work: whether the token
// verifier has its keys, the stores their database and the DPoP replay
// cache its store.
type Health struct {
	checks []check
}

// check is one dependency and its client-safe name.
type check struct {
	what      string
	readiness ports.Readiness
}

// replayStore names, for clients, the store of used DPoP proofs.
const replayStore = "the DPoP replay store"

// NewHealth returns a Health that asks keys (the verifier), the stores'
// database (stores.Database, which must be set) and replay.
func NewHealth(keys ports.Readiness, stores ports.Stores, replay ports.ReplayCache) *Health {
	if stores.Database == nil {
		panic("app: NewHealth: stores.Database is nil")
	}
	return &Health{checks: []check{{signingKeys, keys}, {database, stores.Database}, {replayStore, replay}}}
}

// Ready returns nil when every dependency is ready, else a
// *domain.UnavailableError naming the ones that are not (wrapping
// domain.ErrUnavailable and, for logs, their errors).
func (h *Health) Ready(ctx context.Context) error {
	var missing []string
	var causes []error
	for _, c := range h.checks {
		if err := c.readiness.Ready(ctx); err != nil {
			// An adapter that names what it waits for (the introspection
			// endpoint, say) is named so; else the check's own name.
			what := c.what
			if ue := (*domain.UnavailableError)(nil); errors.As(err, &ue) && ue.What != "" {
				what = ue.What
			}
			missing = append(missing, what)
			causes = append(causes, err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &domain.UnavailableError{What: strings.Join(missing, " and "), Cause: errors.Join(causes...)}
}
