package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/example/spaapi/domain"
)

// send makes a request with a body through the whole router.
func (f *fixture) send(method, target, token, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

func TestMessages(t *testing.T) {
	f := newFixture(t)
	rw := []string{"read:messages", "write:messages"}
	f.fake.Accept("alice", domain.Principal{Subject: "auth0|alice", Scopes: rw})
	f.fake.Accept("bob", domain.Principal{Subject: "auth0|bob", Scopes: rw})
	f.fake.Accept("reader", domain.Principal{Subject: "auth0|reader", Scopes: []string{"read:messages"}})
	f.fake.Accept("moderator", domain.Principal{Subject: "auth0|mod", Scopes: []string{"read:messages"}, Permissions: []string{"delete:messages"}})
	f.fake.Accept("nobody", domain.Principal{Subject: "auth0|nobody"})
	const jsonType = "application/json"

	post := func(token, text string) domain.Message {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"text": text})
		rec := f.send("POST", "/api/messages", token, jsonType, string(body))
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST as %s: got %d %s", token, rec.Code, rec.Body)
		}
		var m domain.Message
		json.NewDecoder(rec.Body).Decode(&m)
		if rec.Header().Get("Location") != "/api/messages/"+m.ID || m.ID == "" {
			t.Errorf("Location %q for id %q", rec.Header().Get("Location"), m.ID)
		}
		return m
	}

	t.Run("post: the caller is the author", func(t *testing.T) {
		m := post("alice", "hello, world")
		if m.Author != "auth0|alice" || m.Text != "hello, world" || m.CreatedAt.IsZero() {
			t.Errorf("got %+v", m)
		}
	})

	t.Run("list", func(t *testing.T) {
		post("bob", "second")
		rec := f.send("GET", "/api/messages", "reader", "", "")
		var got struct{ Messages []domain.Message }
		if rec.Code != 200 || json.NewDecoder(rec.Body).Decode(&got) != nil || len(got.Messages) != 2 || got.Messages[0].Text != "second" {
			t.Errorf("got %d %+v", rec.Code, got)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("list lacks Cache-Control: no-store")
		}
	})

	for _, tc := range []struct {
		name, method, target, token, ctype, body string
		status                                   int
		code, desc, challenge                    string
	}{
		{"list without read:messages", "GET", "/api/messages", "nobody", "", "", 403, "insufficient_scope", "insufficient scope: read:messages required",
			`Bearer realm="api", error="insufficient_scope", error_description="insufficient scope: read:messages required", scope="read:messages"`},
		{"post without write:messages", "POST", "/api/messages", "reader", jsonType, `{"text":"hi"}`, 403, "insufficient_scope", "insufficient scope: write:messages required",
			`Bearer realm="api", error="insufficient_scope", error_description="insufficient scope: write:messages required", scope="write:messages"`},
		{"post without a token", "POST", "/api/messages", "", jsonType, `{"text":"hi"}`, 401, "unauthorized", "bearer token required", `Bearer realm="api"`},
		{"post as text/plain", "POST", "/api/messages", "alice", "text/plain", `{"text":"hi"}`, 415, "unsupported_media_type", "send the body as application/json", ""},
		{"post without a content type", "POST", "/api/messages", "alice", "", `{"text":"hi"}`, 415, "unsupported_media_type", "send the body as application/json", ""},
		{"post not JSON", "POST", "/api/messages", "alice", jsonType, `text=hi`, 400, "invalid_input", "the body is not a JSON object", ""},
		{"post an array", "POST", "/api/messages", "alice", jsonType, `["hi"]`, 400, "invalid_input", "the body is not a JSON object", ""},
		{"post an unknown field", "POST", "/api/messages", "alice", jsonType, `{"text":"hi","author":"auth0|bob"}`, 400, "invalid_input", `unknown field "author"`, ""},
		{"post text of the wrong type", "POST", "/api/messages", "alice", jsonType, `{"text":42}`, 400, "invalid_input", "text: wrong JSON type", ""},
		{"post without text", "POST", "/api/messages", "alice", jsonType, `{}`, 400, "invalid_input", "text: is required", ""},
		{"post blank text", "POST", "/api/messages", "alice", jsonType, `{"text":"   "}`, 400, "invalid_input", "text: is required", ""},
		{"post text too long", "POST", "/api/messages", "alice", jsonType, `{"text":"` + strings.Repeat("é", 501) + `"}`, 400, "invalid_input", "text: is longer than 500 characters", ""},
		{"post control characters", "POST", "/api/messages", "alice", jsonType, `{"text":"a\u0007b"}`, 400, "invalid_input", "text: contains control characters", ""},
		{"post two objects", "POST", "/api/messages", "alice", jsonType, `{"text":"a"}{"text":"b"}`, 400, "invalid_input", "the body has data after the JSON object", ""},
		{"post a huge body", "POST", "/api/messages", "alice", jsonType, `{"text":"` + strings.Repeat("a", 20000) + `"}`, 413, "request_too_large", "the body is larger than 16384 bytes", ""},
		{"delete an unknown id", "DELETE", "/api/messages/nope", "alice", "", "", 404, "not_found", "no such resource", ""},
		{"delete without a token", "DELETE", "/api/messages/nope", "", "", "", 401, "unauthorized", "bearer token required", `Bearer realm="api"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.send(tc.method, tc.target, tc.token, tc.ctype, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status: got %d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			body := decodeError(t, rec)
			if body.Error != tc.code || body.Description != tc.desc {
				t.Errorf("body: got %+v, want %s %q", body, tc.code, tc.desc)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate:\n got %s\nwant %s", got, tc.challenge)
			}
		})
	}

	t.Run("another user cannot delete your message", func(t *testing.T) {
		m := post("alice", "mine")
		rec := f.send("DELETE", "/api/messages/"+m.ID, "bob", "", "")
		if rec.Code != 403 {
			t.Fatalf("bob deleting alice's message: got %d %s", rec.Code, rec.Body)
		}
		want := `Bearer realm="api", error="insufficient_scope", error_description="only the author, or a caller with delete:messages, may delete a message", scope="delete:messages"`
		if got := rec.Header().Get("WWW-Authenticate"); got != want {
			t.Errorf("WWW-Authenticate:\n got %s\nwant %s", got, want)
		}
		if rec := f.send("GET", "/api/messages", "reader", "", ""); !strings.Contains(rec.Body.String(), m.ID) {
			t.Errorf("the message is gone after a refused delete")
		}
		if rec := f.send("DELETE", "/api/messages/"+m.ID, "alice", "", ""); rec.Code != 204 {
			t.Errorf("alice deleting her message: got %d %s", rec.Code, rec.Body)
		}
		if rec := f.send("DELETE", "/api/messages/"+m.ID, "alice", "", ""); rec.Code != 404 {
			t.Errorf("deleting it again: got %d, want 404", rec.Code)
		}
	})

	t.Run("a caller with delete:messages can delete any message", func(t *testing.T) {
		m := post("bob", "spam")
		if rec := f.send("DELETE", "/api/messages/"+m.ID, "moderator", "", ""); rec.Code != 204 {
			t.Errorf("moderator: got %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("storage failure is a 500 without details", func(t *testing.T) {
		f.store.Fail(errors.New("disk on fire at /var/lib/messages"))
		defer f.store.Fail(nil)
		rec := f.send("GET", "/api/messages", "reader", "", "")
		if rec.Code != 500 || strings.Contains(rec.Body.String(), "disk") {
			t.Errorf("got %d %s, want a 500 without the cause", rec.Code, rec.Body)
		}
		if !strings.Contains(f.logs.String(), "disk on fire") {
			t.Errorf("the cause is not logged")
		}
	})
}
