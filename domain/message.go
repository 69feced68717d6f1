package domain

import (
	"time"
)

// MaxMessageLength is the longest message text, in characters.
const MaxMessageLength = 500

// The scopes of messages. Routes ask for them (adapters/httpapi/routes.go);
// CanDelete checks the ones that depend on the message.
const (
	ReadMessagesScope   = "read:messages"
	WriteMessagesScope  = "write:messages"
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

// CanDelete allows the message's author — the same subject from the same
// issuer — and callers granted delete:messages as a scope or a permission.
func CanDelete(p Principal, m Message) error {
	if p.Is(m.AuthorIssuer, m.Author) {
		return nil
	}
	if p.HasScope(DeleteMessagesScope) || p.HasPermission(DeleteMessagesScope) {
		return nil
	}
	return &ScopeError{
		Scopes:      []string{DeleteMessagesScope},
		Description: "only the author, or a caller with delete:messages, may delete a message",
	}
}
