package introspection

import "sync"

// DefaultShareDivisor: by default one client may hold at most
// MaxInFlight/DefaultShareDivisor of the slots (8 of the default 64), so
// that unknown tokens from one address cannot take them all.
const DefaultShareDivisor = 8

// shares bounds each client's introspection requests in flight. A client
// is the HTTP layer's name for an address; "" (unknown) is not bounded.
// Only clients with requests under way have an entry, so there are never
// more entries than slots.
type shares struct {
	mu     sync.Mutex
	max    int
	counts map[string]int
}

func newShares(max int) *shares { return &shares{max: max, counts: map[string]int{}} }

// enter takes one of client's share, if it has one left.
func (s *shares) enter(client string) bool {
	if client == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts[client] >= s.max {
		return false
	}
	s.counts[client]++
	return true
}

// leave gives back what enter took.
func (s *shares) leave(client string) {
	if client == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts[client]--; s.counts[client] <= 0 {
		delete(s.counts, client)
	}
}
