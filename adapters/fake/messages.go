package fake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.MessageStore = (*Messages)(nil)

// Messages is a ports.MessageStore for tests: a plain list that can be
// told to fail, to show how storage failures are answered.
type Messages struct {
	mu   sync.Mutex
	msgs []domain.Message // in the order added
	err  error
}

// NewMessages returns an empty store that works until Fail is called.
func NewMessages() *Messages { return &Messages{} }

// Fail makes every later call return err (nil: work again). An err
// wrapping domain.ErrUnavailable also makes Ready fail with it.
func (m *Messages) Fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// Ready implements ports.Readiness.
func (m *Messages) Ready(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil && errors.Is(m.err, domain.ErrUnavailable) {
		return m.err
	}
	return nil
}

func (m *Messages) find(id string) int {
	return slices.IndexFunc(m.msgs, func(x domain.Message) bool { return x.ID == id })
}

// Add implements ports.MessageStore.
func (m *Messages) Add(_ context.Context, msg domain.Message, perAuthor int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.find(msg.ID) >= 0 {
		return errors.New("fake: duplicate id")
	}
	n := 0
	for _, x := range m.msgs {
		if x.Author == msg.Author && x.AuthorIssuer == msg.AuthorIssuer {
			n++
		}
	}
	if n >= perAuthor {
		return &domain.QuotaError{Limit: perAuthor}
	}
	m.msgs = append(m.msgs, msg)
	return nil
}

// List implements ports.MessageStore, sorting everything on every call.
func (m *Messages) List(_ context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	all := slices.Clone(m.msgs)
	slices.SortFunc(all, func(a, b domain.Message) int { // newest first
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	out := []domain.Message{}
	for _, x := range all {
		if after != nil && !after.Before(x.Key()) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, x)
	}
	return out, nil
}

// Get implements ports.MessageStore.
func (m *Messages) Get(_ context.Context, id string) (domain.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return domain.Message{}, m.err
	}
	if i := m.find(id); i >= 0 {
		return m.msgs[i], nil
	}
	return domain.Message{}, fmt.Errorf("fake: %w", domain.ErrNotFound)
}

// Delete implements ports.MessageStore.
func (m *Messages) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	i := m.find(id)
	if i < 0 {
		return fmt.Errorf("fake: %w", domain.ErrNotFound)
	}
	m.msgs = slices.Delete(m.msgs, i, i+1)
	return nil
}
