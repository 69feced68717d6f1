package fake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.MessageStore = (*Messages)(nil)

// Messages is a ports.MessageStore for tests: a plain list that can be
// told to fail, to show how storage failures are answered.
type Messages struct {
	mu   sync.Mutex
	msgs []domain.Message // oldest first
	err  error
}

// NewMessages returns an empty store that works until Fail is called.
func NewMessages() *Messages { return &Messages{} }

// Fail makes every later call return err (nil: work again).
func (m *Messages) Fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

func (m *Messages) find(id string) int {
	return slices.IndexFunc(m.msgs, func(x domain.Message) bool { return x.ID == id })
}

// Add implements ports.MessageStore.
func (m *Messages) Add(_ context.Context, msg domain.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.find(msg.ID) >= 0 {
		return errors.New("fake: duplicate id")
	}
	m.msgs = append(m.msgs, msg)
	return nil
}

// List implements ports.MessageStore.
func (m *Messages) List(context.Context) ([]domain.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	out := slices.Clone(m.msgs)
	slices.Reverse(out)
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
