package httpapi_test

import (
	"strings"
	"testing"

	"github.com/example/spaapi/domain"
)

// Deleting a message takes a scope, always: write:messages for the
// author's own, delete:messages for anyone's. Ownership is checked on top
// of the scope, never instead of it, so a client the user granted only
// read:messages erases nothing. Every request goes through the whole
// router, as a client sends it.
func TestDeleteNeedsAScopeAndOwnership(t *testing.T) {
	f := messagesFixture(t)
	const one = "https://one.example/"
	// alice's own subject and issuer, through clients granted less.
	f.fake.Accept("alice-reading", domain.Principal{Issuer: one, Subject: "auth0|alice", Scopes: []string{"read:messages"}})
	f.fake.Accept("alice-no-scope", domain.Principal{Issuer: one, Subject: "auth0|alice"})
	f.fake.Accept("alice-permission-only", domain.Principal{Issuer: one, Subject: "auth0|alice", Permissions: []string{"write:messages", "delete:messages"}})
	f.fake.Accept("moderator-permission-only", domain.Principal{Issuer: one, Subject: "auth0|mod2", Scopes: []string{"read:messages"}, Permissions: []string{"delete:messages"}})

	listed := func(id string) bool {
		t.Helper()
		return strings.Contains(f.send("GET", "/api/messages?limit=100", "reader", "", "").Body.String(), `"id":"`+id+`"`)
	}
	const routeRefusal = `Bearer realm="api", error="insufficient_scope", error_description="insufficient scope: one of write:messages, delete:messages required", scope="write:messages delete:messages"`
	const notTheAuthor = `Bearer realm="api", error="insufficient_scope", error_description="only the author, or a caller with delete:messages, may delete a message", scope="delete:messages"`

	m := f.post(t, "alice", "mine")
	for _, tc := range []struct {
		token, challenge string
	}{
		{"alice-reading", routeRefusal},
		{"alice-no-scope", routeRefusal},
		{"alice-permission-only", routeRefusal},
		{"moderator-permission-only", routeRefusal},
		{"bob", notTheAuthor},          // write:messages, not the author
		{"alice-at-two", notTheAuthor}, // alice's sub at another issuer
	} {
		rec := f.send("DELETE", "/api/messages/"+m.ID, tc.token, "", "")
		if rec.Code != 403 {
			t.Fatalf("%s deleting alice's message: got %d %s, want 403", tc.token, rec.Code, rec.Body)
		}
		if body := decodeError(t, rec); body.Error != "insufficient_scope" {
			t.Errorf("%s: error %q, want insufficient_scope", tc.token, body.Error)
		}
		if got := challengeOf(t, rec.Header()); got != tc.challenge {
			t.Errorf("%s: WWW-Authenticate:\n got %s\nwant %s", tc.token, got, tc.challenge)
		}
		if !listed(m.ID) {
			t.Fatalf("%s: the message is gone after a refused delete", tc.token)
		}
	}

	if rec := f.send("DELETE", "/api/messages/"+m.ID, "alice", "", ""); rec.Code != 204 {
		t.Fatalf("alice with write:messages deleting hers: got %d %s, want 204", rec.Code, rec.Body)
	}
	if listed(m.ID) {
		t.Errorf("alice's message is still listed after she deleted it")
	}

	// A moderator: delete:messages (and no write:messages) deletes anyone's.
	spam := f.post(t, "bob", "spam")
	if rec := f.send("DELETE", "/api/messages/"+spam.ID, "moderator", "", ""); rec.Code != 204 {
		t.Fatalf("moderator with delete:messages deleting bob's: got %d %s, want 204", rec.Code, rec.Body)
	}
	if listed(spam.ID) {
		t.Errorf("bob's message is still listed after the moderator deleted it")
	}

	// The route's refusal comes before the message is looked up: an
	// unknown id is 403 too for a read-only client, not 404.
	if rec := f.send("DELETE", "/api/messages/nope", "alice-reading", "", ""); rec.Code != 403 {
		t.Errorf("read-only client, unknown id: got %d, want 403", rec.Code)
	}
}
