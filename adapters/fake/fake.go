// Package fake is a table-driven ports.TokenVerifier for tests: each known
// token string maps to a principal or an error. It is never linked into
// cmd/api.
package fake

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.TokenVerifier = (*Verifier)(nil)
	_ ports.Readiness     = (*Verifier)(nil)
)

// Verifier answers Verify from a table. The zero value is not usable; call New.
type Verifier struct {
	mu       sync.RWMutex
	tokens   map[string]result
	notReady error
}

type result struct {
	principal domain.Principal
	err       error
}

// New returns a verifier that knows no tokens and is ready.
func New() *Verifier {
	return &Verifier{tokens: make(map[string]result)}
}

// Accept makes Verify(token) return p.
func (v *Verifier) Accept(token string, p domain.Principal) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tokens[token] = result{principal: p}
}

// Refuse makes Verify(token) return err. err should wrap
// domain.ErrInvalidToken or domain.ErrUnavailable, as the port requires.
func (v *Verifier) Refuse(token string, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tokens[token] = result{err: err}
}

// SetReady makes Ready return nil (ready) or, when ready is false, an error
// wrapping domain.ErrUnavailable; Verify then also answers ErrUnavailable,
// as a verifier without keys does.
func (v *Verifier) SetReady(ready bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ready {
		v.notReady = nil
	} else {
		v.notReady = fmt.Errorf("fake: %w: not ready", domain.ErrUnavailable)
	}
}

// Verify returns what the table says for rawToken; an unknown token is a
// malformed one.
func (v *Verifier) Verify(_ context.Context, rawToken string) (domain.Principal, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r, ok := v.tokens[rawToken]
	switch {
	case !ok:
		return domain.Principal{}, domain.InvalidToken(domain.ReasonMalformed, errors.New("fake: unknown token"))
	case r.err != nil:
		return domain.Principal{}, r.err
	case v.notReady != nil:
		return domain.Principal{}, v.notReady
	}
	return r.principal, nil
}

// Ready reports what SetReady last said (ready by default).
func (v *Verifier) Ready(context.Context) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.notReady
}
