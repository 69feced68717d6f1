package app

import (
	"context"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Message is what the quickstart endpoints answer.
type Message struct {
	Message string `json:"message"`
}

// MessageQuota is how many messages one author (issuer and subject) may
// keep at once (MESSAGES_PER_USER).
type MessageQuota int

// DefaultMessageQuota is MESSAGES_PER_USER when it is not set.
const DefaultMessageQuota MessageQuota = 1000

// Messages serves the Auth0 API quickstart's three messages, and the
// messages callers post, read and delete.
type Messages struct {
	store ports.MessageStore
	quota MessageQuota
	now   func() time.Time
}

// NewMessages returns the message service, keeping messages in store, at
// most quota per author.
func NewMessages(store ports.MessageStore, quota MessageQuota) *Messages {
	return &Messages{store: store, quota: quota, now: time.Now}
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
	// How the user logged in, when the token says: the authentication
	// context class, the methods and the time (what step-up policies
	// check).
	ACR      string     `json:"acr,omitempty"`
	AMR      []string   `json:"amr,omitempty"`
	AuthTime *time.Time `json:"auth_time,omitempty"`
}

// Me describes the caller.
func (*Messages) Me(_ context.Context, p domain.Principal) Profile {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	var authTime *time.Time
	if !p.AuthTime.IsZero() {
		t := p.AuthTime.UTC()
		authTime = &t
	}
	return Profile{
		Subject:     p.Subject,
		Issuer:      p.Issuer,
		Audience:    nonNil(p.Audiences),
		Scopes:      nonNil(p.Scopes),
		Permissions: nonNil(p.Permissions),
		ClientID:    p.ClientID,
		ExpiresAt:   p.ExpiresAt.UTC(),
		ACR:         p.ACR,
		AMR:         p.AMR,
		AuthTime:    authTime,
	}
}

// MessagePage is one page of messages, newest first. Next is the key to
// list the following page after, nil on the last page.
type MessagePage struct {
	Messages []domain.Message
	Next     *domain.MessageKey
}

// List returns up to limit (1 to MaxPageSize) messages, newest first,
// beginning after after (nil: with the newest). The route's policy decides
// who may read them. At most one page is ever held in memory.
func (m *Messages) List(ctx context.Context, _ domain.Principal, after *domain.MessageKey, limit int) (MessagePage, error) {
	if err := checkPageSize(limit); err != nil {
		return MessagePage{}, err
	}
	// One more than asked for tells whether there is a next page.
	msgs, err := m.store.List(ctx, after, limit+1)
	if err != nil {
		return MessagePage{}, storeError("listing messages", err)
	}
	msgs, next := onePage(msgs, limit, domain.Message.Key)
	return MessagePage{Messages: msgs, Next: next}, nil
}

// Post stores text as a message by the caller, who is its author. Invalid
// text is a *domain.InputError; an author at the quota gets a
// *domain.QuotaError and nothing is stored (nothing is evicted either).
func (m *Messages) Post(ctx context.Context, p domain.Principal, text string) (domain.Message, error) {
	msg, err := domain.NewMessage(newID(), p, text, m.now())
	if err != nil {
		return domain.Message{}, err
	}
	if err := m.store.Add(ctx, msg, int(m.quota)); err != nil {
		return domain.Message{}, storeError("storing a message", explainQuota(err, "messages", messagesRoom))
	}
	return msg, nil
}

// messagesRoom is how an author at the quota makes room.
const messagesRoom = "delete one of yours (DELETE /api/messages/{id}) to post another"

// Delete removes message id if the domain lets the caller: its author
// with write:messages, or a caller with delete:messages (domain.CanDelete).
// Unknown ids wrap domain.ErrNotFound.
func (m *Messages) Delete(ctx context.Context, p domain.Principal, id string) error {
	msg, err := m.store.Get(ctx, id)
	if err != nil {
		return storeError("finding a message", err)
	}
	if err := domain.CanDelete(p, msg); err != nil {
		return err
	}
	if err := m.store.Delete(ctx, id); err != nil {
		return storeError("deleting a message", err)
	}
	return nil
}
