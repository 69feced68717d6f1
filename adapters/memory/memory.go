// Package memory keeps data in the process's memory, for tests and demos
// (DATABASE_URL=memory:): a store per resource from a DB, and the DPoP
// replay cache. Nothing survives a restart. Stores are bounded: by the
// per-author quota every post is checked against, and by a total limit
// beyond which they refuse new items. They never evict one.
package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.MessageStore = (*Messages)(nil)

// MaxMessages is how many messages the store holds at most.
const MaxMessages = 10_000

// author identifies a message's author: issuer and subject together.
type author struct{ issuer, subject string }

// Messages is an in-memory ports.MessageStore, safe for concurrent use.
type Messages struct {
	mu        sync.RWMutex
	order     []domain.Message // oldest first, by domain.MessageKey
	byID      map[string]domain.Message
	perAuthor map[author]int
	max       int
}

// NewMessages returns an empty store of at most MaxMessages messages.
func NewMessages() *Messages { return NewMessagesOfSize(MaxMessages) }

// NewMessagesOfSize returns an empty store of at most max messages.
func NewMessagesOfSize(max int) *Messages {
	return &Messages{byID: map[string]domain.Message{}, perAuthor: map[author]int{}, max: max}
}

// Ready implements ports.Readiness: memory is always there.
func (s *Messages) Ready(context.Context) error { return nil }

// compareKeys orders keys oldest first.
func compareKeys(a, b domain.MessageKey) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
}

// position returns where k is, or would be, in s.order.
func (s *Messages) position(k domain.MessageKey) (int, bool) {
	return slices.BinarySearchFunc(s.order, k, func(m domain.Message, k domain.MessageKey) int {
		return compareKeys(m.Key(), k)
	})
}

// Add implements ports.MessageStore. The count and the insert happen under
// one lock.
func (s *Messages) Add(_ context.Context, m domain.Message, perAuthor int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[m.ID]; dup {
		return fmt.Errorf("memory: message %s already exists", m.ID)
	}
	a := author{m.AuthorIssuer, m.Author}
	if s.perAuthor[a] >= perAuthor {
		return &domain.QuotaError{Limit: perAuthor}
	}
	if len(s.order) >= s.max {
		return &domain.QuotaError{Limit: s.max, Total: true}
	}
	i, _ := s.position(m.Key())
	s.order = slices.Insert(s.order, i, m)
	s.byID[m.ID] = m
	s.perAuthor[a]++
	return nil
}

// List implements ports.MessageStore. It copies at most limit messages.
func (s *Messages) List(_ context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	end := len(s.order) // s.order[:end] are the messages after `after`
	if after != nil {
		end, _ = s.position(*after)
	}
	out := make([]domain.Message, 0, min(limit, end))
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.order[i])
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
	m, ok := s.byID[id]
	if !ok {
		return fmt.Errorf("memory: message %q: %w", id, domain.ErrNotFound)
	}
	if i, found := s.position(m.Key()); found {
		s.order = slices.Delete(s.order, i, i+1)
	}
	delete(s.byID, id)
	a := author{m.AuthorIssuer, m.Author}
	if s.perAuthor[a]--; s.perAuthor[a] == 0 {
		delete(s.perAuthor, a)
	}
	return nil
}
