// Package memory keeps messages in the process's memory: the storage
// behind ports.MessageStore until a database adapter replaces it. It holds
// at most a fixed number of messages and drops the oldest beyond that.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.MessageStore = (*Messages)(nil)

// MaxMessages is how many messages the store keeps.
const MaxMessages = 10_000

// Messages is an in-memory ports.MessageStore, safe for concurrent use.
type Messages struct {
	mu    sync.RWMutex
	order []string // ids, oldest first
	byID  map[string]domain.Message
	max   int
}

// NewMessages returns an empty store of at most MaxMessages messages.
func NewMessages() *Messages { return NewMessagesOfSize(MaxMessages) }

// NewMessagesOfSize returns an empty store of at most max messages.
func NewMessagesOfSize(max int) *Messages {
	return &Messages{byID: map[string]domain.Message{}, max: max}
}

// Add implements ports.MessageStore.
func (s *Messages) Add(_ context.Context, m domain.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[m.ID]; dup {
		return fmt.Errorf("memory: message %s already exists", m.ID)
	}
	if len(s.order) >= s.max {
		oldest := s.order[0]
		s.order = s.order[1:]
		delete(s.byID, oldest)
	}
	s.order = append(s.order, m.ID)
	s.byID[m.ID] = m
	return nil
}

// List implements ports.MessageStore.
func (s *Messages) List(context.Context) ([]domain.Message, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]domain.Message, 0, len(s.order))
	for _, id := range slices.Backward(s.order) {
		out = append(out, s.byID[id])
	}
	return out, nil
}

// Get implements ports.MessageStore.
func (s *Messages) Get(_ context.Context, id string) (domain.Message, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.byID[id]
	if !ok {
		return domain.Message{}, fmt.Errorf("memory: message %q: %w", id, domain.ErrNotFound)
	}
	return m, nil
}

// Delete implements ports.MessageStore.
func (s *Messages) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[id]; !ok {
		return fmt.Errorf("memory: message %q: %w", id, domain.ErrNotFound)
	}
	delete(s.byID, id)
	s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
	return nil
}
