package domain

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxMessageLength is the longest message text, in characters.
const MaxMessageLength = 500

// Message is a short text a caller posted. Its author is an issuer and a
// subject together: the same sub from two issuers is two people.
type Message struct {
	ID           string    `json:"id"`
	Author       string    `json:"author"`        // the poster's subject (sub)
	AuthorIssuer string    `json:"author_issuer"` // the issuer (iss) of the poster's token
	Text         string    `json:"text"`
	CreatedAt    time.Time `json:"created_at"`
}

// Key is the message's place in the newest-first order of messages.
func (m Message) Key() MessageKey { return MessageKey{CreatedAt: m.CreatedAt, ID: m.ID} }

// MessageKey orders messages: by CreatedAt, then by ID for messages
// created in the same microsecond. Lists are newest first, so "after a
// key" means older than it.
type MessageKey struct {
	CreatedAt time.Time
	ID        string
}

// Before reports whether k comes before o in newest-first order, that is
// whether k is newer.
func (k MessageKey) Before(o MessageKey) bool {
	if c := k.CreatedAt.Compare(o.CreatedAt); c != 0 {
		return c > 0
	}
	return k.ID > o.ID
}

// NewMessage checks text and returns the message p posts. The text must be
// 1 to MaxMessageLength characters of valid UTF-8, not only spaces,
// without control characters other than newline and tab. The time is kept
// to the microsecond, as databases keep it.
func NewMessage(id string, p Principal, text string, now time.Time) (Message, error) {
	switch {
	case p.Subject == "":
		return Message{}, &InputError{Field: "author", Problem: "is required, and the access token has no subject (sub)"}
	case !utf8.ValidString(text):
		return Message{}, &InputError{Field: "text", Problem: "is not valid UTF-8"}
	case strings.TrimSpace(text) == "":
		return Message{}, &InputError{Field: "text", Problem: "is required"}
	case utf8.RuneCountInString(text) > MaxMessageLength:
		return Message{}, &InputError{Field: "text", Problem: "is longer than 500 characters"}
	case strings.ContainsFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
		return Message{}, &InputError{Field: "text", Problem: "contains control characters"}
	}
	return Message{
		ID:           id,
		Author:       p.Subject,
		AuthorIssuer: p.Issuer,
		Text:         text,
		CreatedAt:    now.UTC().Truncate(time.Microsecond),
	}, nil
}

// DeleteMessagePermission lets its holder delete anyone's message.
const DeleteMessagePermission = "delete:messages"

// CanDelete allows the message's author — the same subject from the same
// issuer — and callers granted delete:messages as a scope or a permission.
func CanDelete(p Principal, m Message) error {
	if p.Subject != "" && p.Subject == m.Author && p.Issuer == m.AuthorIssuer {
		return nil
	}
	if p.HasScope(DeleteMessagePermission) || p.HasPermission(DeleteMessagePermission) {
		return nil
	}
	return &ScopeError{
		Scopes:      []string{DeleteMessagePermission},
		Description: "only the author, or a caller with delete:messages, may delete a message",
	}
}
