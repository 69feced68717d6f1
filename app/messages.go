package app

import (
	"context"
	"time"

	"github.com/example/spaapi/domain"
)

// Message is what the quickstart endpoints answer.
type Message struct {
	Message string `json:"message"`
}

// Messages are the Auth0 API quickstart's three messages.
type Messages struct{}

// NewMessages returns the message service.
func NewMessages() *Messages { return &Messages{} }

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
