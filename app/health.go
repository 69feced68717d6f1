package app

import (
	"context"

	"github.com/example/spaapi/ports"
)

// Health reports whether the service can do its work.
type Health struct {
	readiness ports.Readiness
}

// NewHealth returns a Health that asks r.
func NewHealth(r ports.Readiness) *Health { return &Health{readiness: r} }

// Ready returns nil when every dependency is ready, else an error wrapping
// domain.ErrUnavailable.
func (h *Health) Ready(ctx context.Context) error {
	return h.readiness.Ready(ctx)
}
