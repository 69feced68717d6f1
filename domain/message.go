package domain

import (
	"time"
)

// MaxMessageLength is the longest message text, in characters.
const MaxMessageLength = 500

// The scopes CanDelete checks. The route table (adapters/httpapi) asks
// for them too, before the message is looked up.
const (
	WriteMessagesScope  = "write:messages"  // the author's own messages
	DeleteMessagesScope = "delete:messages" // anyone's message, as a moderator
)

// Message is a short text a caller posted. Its author is an issuer and a
// subject together: the same sub from two issuers is two people.
type Message struct {
	ID           string    `json:"id"`
	Author       string    `json:"author"`        // the poster's subject (sub)
	AuthorIssuer string    `json:"author_issuer"` // the issuer (iss) of the poster's token
	Text         string    `json:"text"`
	CreatedAt    time.Time `json:"created_at"`
}

// MessageKey is a message's place in the newest-first order of messages.
type MessageKey = PageKey

// Key is the message's place in the newest-first order of messages.
func (m Message) Key() MessageKey { return MessageKey{CreatedAt: m.CreatedAt, ID: m.ID} }

// NewMessage checks text and returns the message p posts. The text must be
// 1 to MaxMessageLength characters of valid UTF-8, not only spaces,
// without control characters other than newline and tab (CheckText). The
// time is kept to the microsecond, as databases keep it.
func NewMessage(id string, p Principal, text string, now time.Time) (Message, error) {
	if p.Subject == "" {
		return Message{}, &InputError{Field: "author", Problem: "is required, and the access token has no subject (sub)"}
	}
	if err := CheckText("text", text, MaxMessageLength); err != nil {
		return Message{}, err
	}
	return Message{
		ID:           id,
		Author:       p.Subject,
		AuthorIssuer: p.Issuer,
		Text:         text,
		CreatedAt:    now.UTC().Truncate(time.Microsecond),
	}, nil
}

// CanDelete decides who may delete m: its author (the same subject from
// the same issuer) holding write:messages, and anyone holding
// delete:messages. Scopes are what the client was granted to do for the
// user, so the author's client needs write:messages too: ownership is
// checked on top of the scope, never instead of it (a client granted only
// read:messages erases nothing). Refusals are *ScopeError.
func CanDelete(p Principal, m Message) error {
	switch {
	case p.HasScope(DeleteMessagesScope):
		return nil
	case !p.Is(m.AuthorIssuer, m.Author):
		return &ScopeError{
			Scopes:      []string{DeleteMessagesScope},
			Description: "only the author, or a caller with delete:messages, may delete a message",
		}
	case !p.HasScope(WriteMessagesScope):
		return &ScopeError{Scopes: []string{WriteMessagesScope, DeleteMessagesScope}, Any: true}
	}
	return nil
}
