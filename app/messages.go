package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Message is what the quickstart endpoints answer.
type Message struct {
	Message string `json:"message"`
}

// Messages serves the Auth0 API quickstart's three messages, and the
// messages callers post, read and delete.
type Messages struct {
	store ports.MessageStore
	now   func() time.Time
}

// NewMessages returns the message service, keeping messages in store.
func NewMessages(store ports.MessageStore) *Messages {
	return &Messages{store: store, now: time.Now}
}

// Public is for everyone.
func (*Messages) Public(context.Context) Message {
	return Message{"Hello from a public endpoint! You don't need to be authenticated to see this."}
}

// Private is for any authenticated caller.
func (*Messages) Private(context.Context, domain.Principal) Message {
	return Message{"Hello from a private endpoint! You need to be authenticated to see this."}
}

// PrivateScoped is for callers granted read:messages (the route's policy).
func (*Messages) PrivateScoped(context.Context, domain.Principal) Message {
	return Message{"Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."}
}

// Profile is what /api/me shows of the caller.
type Profile struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	Audience    []string  `json:"audience"`
	Scopes      []string  `json:"scopes"`
	Permissions []string  `json:"permissions"`
	ClientID    string    `json:"client_id,omitempty"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Me describes the caller.
func (*Messages) Me(_ context.Context, p domain.Principal) Profile {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return Profile{
		Subject:     p.Subject,
		Issuer:      p.Issuer,
		Audience:    nonNil(p.Audiences),
		Scopes:      nonNil(p.Scopes),
		Permissions: nonNil(p.Permissions),
		ClientID:    p.ClientID,
		ExpiresAt:   p.ExpiresAt.UTC(),
	}
}

// List returns every message, newest first. The route's policy decides
// who may read them.
func (m *Messages) List(ctx context.Context, _ domain.Principal) ([]domain.Message, error) {
	msgs, err := m.store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing messages: %w", err)
	}
	return msgs, nil
}

// Post stores text as a message by the caller, who is its author.
// Invalid text is a *domain.InputError.
func (m *Messages) Post(ctx context.Context, p domain.Principal, text string) (domain.Message, error) {
	msg, err := domain.NewMessage(newID(), p.Subject, text, m.now())
	if err != nil {
		return domain.Message{}, err
	}
	if err := m.store.Add(ctx, msg); err != nil {
		return domain.Message{}, fmt.Errorf("storing a message: %w", err)
	}
	return msg, nil
}

// Delete removes message id if the domain lets the caller: its author, or
// a caller with delete:messages. Unknown ids wrap domain.ErrNotFound.
func (m *Messages) Delete(ctx context.Context, p domain.Principal, id string) error {
	msg, err := m.store.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := domain.CanDelete(p, msg); err != nil {
		return err
	}
	return m.store.Delete(ctx, id)
}

// newID returns a random message ID.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
