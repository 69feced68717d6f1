package domain

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxMessageLength is the longest message text, in characters.
const MaxMessageLength = 500

// Message is a short text a caller posted.
type Message struct {
	ID        string    `json:"id"`
	Author    string    `json:"author"` // the poster's subject
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// NewMessage checks text and returns the message author posts. The text
// must be 1 to MaxMessageLength characters of valid UTF-8, not only
// spaces, without control characters other than newline and tab.
func NewMessage(id, author, text string, now time.Time) (Message, error) {
	switch {
	case author == "":
		return Message{}, &InputError{Field: "author", Problem: "is required"}
	case !utf8.ValidString(text):
		return Message{}, &InputError{Field: "text", Problem: "is not valid UTF-8"}
	case strings.TrimSpace(text) == "":
		return Message{}, &InputError{Field: "text", Problem: "is required"}
	case utf8.RuneCountInString(text) > MaxMessageLength:
		return Message{}, &InputError{Field: "text", Problem: "is longer than 500 characters"}
	case strings.ContainsFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
		return Message{}, &InputError{Field: "text", Problem: "contains control characters"}
	}
	return Message{ID: id, Author: author, Text: text, CreatedAt: now.UTC()}, nil
}

// DeleteMessagePermission lets its holder delete anyone's message.
const DeleteMessagePermission = "delete:messages"

// CanDelete allows the message's author, and callers granted
// delete:messages as a scope or a permission.
func CanDelete(p Principal, m Message) error {
	if p.Subject != "" && p.Subject == m.Author {
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
