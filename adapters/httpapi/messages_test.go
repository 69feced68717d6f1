package httpapi_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

const jsonType = "application/json"

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

// post posts text as the holder of token and returns the message.
func (f *fixture) post(t *testing.T, token, text string) domain.Message {
	t.Helper()
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		t.Fatal(err)
	}
	rec := f.send("POST", "/api/messages", token, jsonType, string(body))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST as %s: got %d %s", token, rec.Code, rec.Body)
	}
	var m domain.Message
	if err := json.NewDecoder(rec.Body).Decode(&m); err != nil {
		t.Fatalf("POST answer: %v", err)
	}
	if m.ID == "" || rec.Header().Get("Location") != "/api/messages/"+m.ID {
		t.Errorf("Location %q for id %q", rec.Header().Get("Location"), m.ID)
	}
	return m
}

// messageList is the answer of GET /api/messages, decoded strictly.
type messageList struct {
	Messages   []domain.Message `json:"messages"`
	NextCursor *string          `json:"next_cursor"`
}

// list gets target as token's holder and decodes the answer.
func (f *fixture) list(t *testing.T, token, target string) messageList {
	t.Helper()
	rec := f.send("GET", target, token, "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: got %d %s", target, rec.Code, rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("GET %s: no Cache-Control: no-store", target)
	}
	var got messageList
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	if got.Messages == nil {
		t.Fatalf("GET %s: messages is null or absent, want an array", target)
	}
	if got.NextCursor != nil && *got.NextCursor == "" {
		t.Errorf("GET %s: next_cursor is empty; absent is how the last page says it", target)
	}
	return got
}

// principals known to the fixture's verifier, by token.
func messagesFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	rw := []string{"read:messages", "write:messages"}
	const one, two = "https://one.example/", "https://two.example/"
	f.fake.Accept("alice", domain.Principal{Issuer: one, Subject: "auth0|alice", Scopes: rw})
	// alice's subject, but at another issuer: someone else.
	f.fake.Accept("alice-at-two", domain.Principal{Issuer: two, Subject: "auth0|alice", Scopes: rw})
	f.fake.Accept("bob", domain.Principal{Issuer: one, Subject: "auth0|bob", Scopes: rw})
	f.fake.Accept("carol", domain.Principal{Issuer: one, Subject: "auth0|carol", Scopes: rw})
	f.fake.Accept("reader", domain.Principal{Issuer: one, Subject: "auth0|reader", Scopes: []string{"read:messages"}})
	f.fake.Accept("moderator", domain.Principal{Issuer: one, Subject: "auth0|mod", Scopes: []string{"read:messages", "delete:messages"}})
	f.fake.Accept("nobody", domain.Principal{Issuer: one, Subject: "auth0|nobody"})
	return f
}

func TestMessages(t *testing.T) {
	f := messagesFixture(t)

	t.Run("post: the caller is the author, issuer and subject", func(t *testing.T) {
		m := f.post(t, "alice", "hello, world")
		if m.Author != "auth0|alice" || m.AuthorIssuer != "https://one.example/" || m.Text != "hello, world" || m.CreatedAt.IsZero() {
			t.Errorf("got %+v", m)
		}
		rec := f.send("GET", "/api/messages", "reader", "", "")
		for _, field := range []string{`"author":"auth0|alice"`, `"author_issuer":"https://one.example/"`} {
			if !strings.Contains(rec.Body.String(), field) {
				t.Errorf("list lacks %s: %s", field, rec.Body)
			}
		}
	})

	t.Run("list: newest first, one page", func(t *testing.T) {
		f := messagesFixture(t) // its own store: what the other subtests post is not counted
		f.post(t, "alice", "first")
		f.post(t, "bob", "second")
		got := f.list(t, "reader", "/api/messages")
		if len(got.Messages) != 2 || got.Messages[0].Text != "second" || got.NextCursor != nil {
			t.Errorf("got %+v, want 2 messages, newest first, no next_cursor", got)
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
		{"post without a token", "POST", "/api/messages", "", jsonType, `{"text":"hi"}`, 401, "unauthorized", "access token required: Authorization: Bearer <token>, or DPoP <token> with a DPoP proof", `Bearer realm="api"`},
		{"post as text/plain", "POST", "/api/messages", "alice", "text/plain", `{"text":"hi"}`, 415, "unsupported_media_type", "send the body as application/json", ""},
		{"post without a content type", "POST", "/api/messages", "alice", "", `{"text":"hi"}`, 415, "unsupported_media_type", "send the body as application/json", ""},
		{"post as application/json with a malformed parameter", "POST", "/api/messages", "alice", "application/json; a", `{"text":"hi"}`, 415, "unsupported_media_type", "send the body as application/json", ""},
		{"post as application/json with an empty parameter", "POST", "/api/messages", "alice", "application/json;;", `{"text":"hi"}`, 415, "unsupported_media_type", "send the body as application/json", ""},
		{"post as application/json with a parameter twice", "POST", "/api/messages", "alice", "application/json; charset=utf-8; charset=latin1", `{"text":"hi"}`, 415, "unsupported_media_type", "send the body as application/json", ""},
		{"post not JSON", "POST", "/api/messages", "alice", jsonType, `text=hi`, 400, "invalid_input", "the body is not valid JSON (syntax error at byte 2)", ""},
		{"post nothing", "POST", "/api/messages", "alice", jsonType, ``, 400, "invalid_input", "the body ends before its JSON does (unexpected end of JSON input)", ""},
		{"post a cut-off object", "POST", "/api/messages", "alice", jsonType, `{"text":`, 400, "invalid_input", "the body ends before its JSON does (unexpected end of JSON input)", ""},
		{"post a cut-off string", "POST", "/api/messages", "alice", jsonType, `{"text":"hel`, 400, "invalid_input", "the body ends before its JSON does (unexpected end of JSON input)", ""},
		{"post an object without its end", "POST", "/api/messages", "alice", jsonType, `{"text":"hello"`, 400, "invalid_input", "the body ends before its JSON does (unexpected end of JSON input)", ""},
		{"post an array", "POST", "/api/messages", "alice", jsonType, `["hi"]`, 400, "invalid_input", `the body must be a JSON object, like {"text":"hello"}`, ""},
		{"post a string", "POST", "/api/messages", "alice", jsonType, `"hi"`, 400, "invalid_input", `the body must be a JSON object, like {"text":"hello"}`, ""},
		{"post an unknown field", "POST", "/api/messages", "alice", jsonType, `{"text":"hi","author":"auth0|bob"}`, 400, "invalid_input", `unknown field "author"`, ""},
		{"post TEXT for text", "POST", "/api/messages", "alice", jsonType, `{"TEXT":"hi"}`, 400, "invalid_input", `unknown field "TEXT": field names are case-sensitive, use "text"`, ""},
		{"post Text beside text", "POST", "/api/messages", "alice", jsonType, `{"text":"hi","Text":"ho"}`, 400, "invalid_input", `unknown field "Text": field names are case-sensitive, use "text"`, ""},
		{"post text twice", "POST", "/api/messages", "alice", jsonType, `{"text":"hi","text":"ho"}`, 400, "invalid_input", `the field "text" is given more than once`, ""},
		{"post text of the wrong type", "POST", "/api/messages", "alice", jsonType, `{"text":42}`, 400, "invalid_input", "text must be a JSON string", ""},
		{"post text as an object", "POST", "/api/messages", "alice", jsonType, `{"text":{"a":1}}`, 400, "invalid_input", "text must be a JSON string", ""},
		{"post without text", "POST", "/api/messages", "alice", jsonType, `{}`, 400, "invalid_input", "text is required", ""},
		{"post null text", "POST", "/api/messages", "alice", jsonType, `{"text":null}`, 400, "invalid_input", "text is required", ""},
		{"post empty text", "POST", "/api/messages", "alice", jsonType, `{"text":""}`, 400, "invalid_input", "text is required", ""},
		{"post blank text", "POST", "/api/messages", "alice", jsonType, `{"text":"   "}`, 400, "invalid_input", "text is required", ""},
		{"post text too long", "POST", "/api/messages", "alice", jsonType, `{"text":"` + strings.Repeat("é", 501) + `"}`, 400, "invalid_input", "text is longer than 500 characters", ""},
		{"post control characters", "POST", "/api/messages", "alice", jsonType, `{"text":"a\u0007b"}`, 400, "invalid_input", "text contains control characters", ""},
		{"post invalid UTF-8", "POST", "/api/messages", "alice", jsonType, "{\"text\":\"caf\xe9\"}", 400, "invalid_input", "the body is not valid UTF-8", ""},
		{"post invalid UTF-8 in a key", "POST", "/api/messages", "alice", jsonType, "{\"te\xffxt\":\"hi\"}", 400, "invalid_input", "the body is not valid UTF-8", ""},
		{"post an overlong UTF-8 encoding", "POST", "/api/messages", "alice", jsonType, "{\"text\":\"\xc0\xaf\"}", 400, "invalid_input", "the body is not valid UTF-8", ""},
		{"post a lone high surrogate", "POST", "/api/messages", "alice", jsonType, `{"text":"a\ud800b"}`, 400, "invalid_input", `the body has a \u escape that is not a valid character (an unpaired UTF-16 surrogate)`, ""},
		{"post a lone low surrogate", "POST", "/api/messages", "alice", jsonType, `{"text":"\udc00"}`, 400, "invalid_input", `the body has a \u escape that is not a valid character (an unpaired UTF-16 surrogate)`, ""},
		{"post two high surrogates", "POST", "/api/messages", "alice", jsonType, `{"text":"\ud83d\ud83d"}`, 400, "invalid_input", `the body has a \u escape that is not a valid character (an unpaired UTF-16 surrogate)`, ""},
		{"post two objects", "POST", "/api/messages", "alice", jsonType, `{"text":"a"}{"text":"b"}`, 400, "invalid_input", "the body has data after the JSON object", ""},
		{"post a huge body", "POST", "/api/messages", "alice", jsonType, `{"text":"` + strings.Repeat("a", 20000) + `"}`, 413, "request_too_large", "the body is larger than 16384 bytes", ""},
		{"delete an unknown id", "DELETE", "/api/messages/nope", "alice", "", "", 404, "not_found", "no such resource", ""},
		{"delete without a token", "DELETE", "/api/messages/nope", "", "", "", 401, "unauthorized", "access token required: Authorization: Bearer <token>, or DPoP <token> with a DPoP proof", `Bearer realm="api"`},
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
			want := tc.challenge
			if tc.status == 401 {
				want += "\n" + dpopOffer // DPOP_MODE=allowed offers both schemes
			}
			if got := strings.Join(challengesOf(t, rec.Header()), "\n"); got != want {
				t.Errorf("WWW-Authenticate:\n got %s\nwant %s", got, want)
			}
		})
	}

	t.Run("application/json with parameters, well-formed, is JSON", func(t *testing.T) {
		for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON ; charset=\"UTF-8\"", "application/json;"} {
			rec := f.send("POST", "/api/messages", "carol", ct, `{"text":"typed"}`)
			if rec.Code != 201 {
				t.Errorf("%s: got %d %s, want 201", ct, rec.Code, rec.Body)
				continue
			}
			var m domain.Message
			if err := json.NewDecoder(rec.Body).Decode(&m); err != nil {
				t.Fatal(err)
			}
			if rec := f.send("DELETE", "/api/messages/"+m.ID, "carol", "", ""); rec.Code != 204 {
				t.Errorf("cleaning up: %d", rec.Code)
			}
		}
	})

	t.Run("valid escapes are kept", func(t *testing.T) {
		rec := f.send("POST", "/api/messages", "carol", jsonType, `{"text":"smile \ud83d\ude00, \u00e9, \\u0041 \"q\""}`)
		if rec.Code != 201 {
			t.Fatalf("got %d %s", rec.Code, rec.Body)
		}
		var m domain.Message
		if err := json.NewDecoder(rec.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if want := `smile 😀, é, \u0041 "q"`; m.Text != want {
			t.Errorf("text: got %q, want %q", m.Text, want)
		}
		if rec := f.send("DELETE", "/api/messages/"+m.ID, "carol", "", ""); rec.Code != 204 {
			t.Errorf("cleaning up: %d", rec.Code)
		}
	})

	t.Run("another user cannot delete your message", func(t *testing.T) {
		m := f.post(t, "alice", "mine")
		for _, who := range []string{"bob", "alice-at-two"} {
			rec := f.send("DELETE", "/api/messages/"+m.ID, who, "", "")
			if rec.Code != 403 {
				t.Fatalf("%s deleting alice's message: got %d %s", who, rec.Code, rec.Body)
			}
			want := `Bearer realm="api", error="insufficient_scope", error_description="only the author, or a caller with delete:messages, may delete a message", scope="delete:messages"`
			if got := challengeOf(t, rec.Header()); got != want {
				t.Errorf("%s: WWW-Authenticate:\n got %s\nwant %s", who, got, want)
			}
		}
		if rec := f.send("GET", "/api/messages", "reader", "", ""); !strings.Contains(rec.Body.String(), m.ID) {
			t.Errorf("the message is gone after refused deletes")
		}
		if rec := f.send("DELETE", "/api/messages/"+m.ID, "alice", "", ""); rec.Code != 204 {
			t.Errorf("alice deleting her message: got %d %s", rec.Code, rec.Body)
		}
		if rec := f.send("DELETE", "/api/messages/"+m.ID, "alice", "", ""); rec.Code != 404 {
			t.Errorf("deleting it again: got %d, want 404", rec.Code)
		}
	})

	t.Run("a caller with delete:messages can delete any message", func(t *testing.T) {
		m := f.post(t, "bob", "spam")
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

// A store that cannot be reached: 503 with Retry-After on every message
// endpoint, naming what is missing but not why; /readyz says so; public
// endpoints are unaffected.
func TestMessagesStoreUnavailable(t *testing.T) {
	f := messagesFixture(t)
	m := f.post(t, "alice", "before the outage")
	f.store.Fail(fmt.Errorf("postgres: %w: dial tcp 10.1.2.3:5432: connection refused", domain.ErrUnavailable))
	want := errorBody{"temporarily_unavailable", "not available: the database; retry shortly"}
	for _, req := range [][4]string{
		{"GET", "/api/messages", "", ""},
		{"POST", "/api/messages", jsonType, `{"text":"during"}`},
		{"DELETE", "/api/messages/" + m.ID, "", ""},
	} {
		rec := f.send(req[0], req[1], "alice", req[2], req[3])
		if rec.Code != 503 || rec.Header().Get("Retry-After") != "5" {
			t.Errorf("%s %s: got %d (Retry-After %q), want 503 with Retry-After: 5", req[0], req[1], rec.Code, rec.Header().Get("Retry-After"))
			continue
		}
		if got := decodeError(t, rec); got != want {
			t.Errorf("%s %s: got %+v, want %+v", req[0], req[1], got, want)
		}
	}
	rec := f.do("GET", "/readyz", nil)
	if rec.Code != 503 {
		t.Errorf("/readyz: got %d, want 503", rec.Code)
	} else if got := decodeError(t, rec); got != want {
		t.Errorf("/readyz: got %+v, want %+v", got, want)
	}
	if rec := f.do("GET", "/api/public", nil); rec.Code != 200 {
		t.Errorf("/api/public: got %d, want 200", rec.Code)
	}
	if !strings.Contains(f.logs.String(), "10.1.2.3:5432") {
		t.Errorf("the cause of the 503 is not logged")
	}

	f.store.Fail(nil)
	if rec := f.do("GET", "/readyz", nil); rec.Code != 200 {
		t.Errorf("/readyz once back: got %d, want 200", rec.Code)
	}
	if got := f.list(t, "alice", "/api/messages"); len(got.Messages) != 1 || got.Messages[0].ID != m.ID {
		t.Errorf("once back: got %+v", got)
	}
}

func TestMessagesPagination(t *testing.T) {
	f := messagesFixture(t)
	// 12 messages, fixtureQuota (5) per author.
	var want []string // newest first
	for i := range 12 {
		token := []string{"alice", "bob", "carol"}[i%3]
		m := f.post(t, token, fmt.Sprint("message ", i))
		want = append([]string{m.ID}, want...)
	}

	t.Run("follows next_cursor to the end", func(t *testing.T) {
		for _, limit := range []int{1, 5, 11, 12, 100} {
			var got []string
			target := fmt.Sprintf("/api/messages?limit=%d", limit)
			pages := 0
			for {
				page := f.list(t, "reader", target)
				pages++
				if len(page.Messages) > limit {
					t.Fatalf("limit %d: a page of %d", limit, len(page.Messages))
				}
				for _, m := range page.Messages {
					got = append(got, m.ID)
				}
				if page.NextCursor == nil {
					break
				}
				if pages > 20 {
					t.Fatalf("limit %d: no end after 20 pages", limit)
				}
				target = fmt.Sprintf("/api/messages?limit=%d&cursor=%s", limit, url.QueryEscape(*page.NextCursor))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("limit %d: got %v, want %v", limit, got, want)
			}
			if wantPages := (12 + limit - 1) / limit; pages != wantPages {
				t.Errorf("limit %d: %d pages, want %d", limit, pages, wantPages)
			}
		}
	})

	t.Run("the default page is 50", func(t *testing.T) {
		g := messagesFixture(t)
		for i := range 55 {
			token := fmt.Sprint("writer-", i/5)
			g.fake.Accept(token, domain.Principal{Issuer: "https://one.example/", Subject: token, Scopes: []string{"write:messages"}})
			g.post(t, token, fmt.Sprint("m", i))
		}
		page := g.list(t, "reader", "/api/messages")
		if len(page.Messages) != 50 || page.NextCursor == nil {
			t.Fatalf("got %d messages, next %v; want 50 and a next_cursor", len(page.Messages), page.NextCursor)
		}
		rest := g.list(t, "reader", "/api/messages?cursor="+url.QueryEscape(*page.NextCursor))
		if len(rest.Messages) != 5 || rest.NextCursor != nil || rest.Messages[4].Text != "m0" {
			t.Errorf("second page: got %d messages, next %v", len(rest.Messages), rest.NextCursor)
		}
	})

	limitErr := "limit must be a whole number from 1 to 100"
	cursorErr := "cursor is not valid: pass the next_cursor of an earlier answer, unchanged"
	first := f.list(t, "reader", "/api/messages?limit=2")
	good := *first.NextCursor
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatalf("next_cursor %q is not unpadded base64url: %v", good, err)
	}
	forge := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	withVersion := func(v byte) string { b := append([]byte{v}, raw[1:]...); return forge(b) }
	withID := func(id string) string { b := append(append([]byte{}, raw[:9]...), id...); return forge(b) }
	withMicros := func(us uint64) string {
		b := append([]byte{}, raw...)
		binary.BigEndian.PutUint64(b[1:9], us)
		return forge(b)
	}
	for _, tc := range []struct{ name, query, want string }{
		{"limit 0", "limit=0", limitErr},
		{"limit 101", "limit=101", limitErr},
		{"negative limit", "limit=-1", limitErr},
		{"signed limit", "limit=%2B5", limitErr},
		{"fractional limit", "limit=1.5", limitErr},
		{"limit not a number", "limit=ten", limitErr},
		{"huge limit", "limit=99999999999999999999", limitErr},
		{"limit twice", "limit=5&limit=6", "limit is given more than once"},
		{"cursor twice", "cursor=" + good + "&cursor=" + good, "cursor is given more than once"},
		{"malformed query", "limit=%zz", "the query string is malformed"},
		{"cursor garbage", "cursor=not-a-cursor", cursorErr},
		{"cursor padded", "cursor=" + good + "%3D", cursorErr},
		{"cursor in standard base64", "cursor=" + strings.NewReplacer("-", "+", "_", "/").Replace(good) + "%2B%2F", cursorErr},
		{"cursor cut short", "cursor=" + good[:len(good)-3], cursorErr},
		{"cursor with a byte more", "cursor=" + forge(append(append([]byte{}, raw...), 'a')), "200"},
		{"cursor of another version", "cursor=" + withVersion(2), cursorErr},
		{"cursor without an id", "cursor=" + withID(""), cursorErr},
		{"cursor with SQL for an id", "cursor=" + withID("' OR 1=1 --"), cursorErr},
		{"cursor with an upper-case id", "cursor=" + withID("ABCDEF"), cursorErr},
		{"cursor with a 65-character id", "cursor=" + withID(strings.Repeat("a", 65)), cursorErr},
		{"cursor far in the future", "cursor=" + withMicros(1<<63), cursorErr},
		{"cursor very long", "cursor=" + strings.Repeat("A", 5000), cursorErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.send("GET", "/api/messages?"+tc.query, "reader", "", "")
			if tc.want == "200" {
				if rec.Code != 200 {
					t.Errorf("got %d %s, want 200", rec.Code, rec.Body)
				}
				return
			}
			if rec.Code != 400 {
				t.Fatalf("got %d %s, want 400", rec.Code, rec.Body)
			}
			if got := decodeError(t, rec); got != (errorBody{"invalid_request", tc.want}) {
				t.Errorf("got %+v, want invalid_request %q", got, tc.want)
			}
		})
	}

	// A cursor made by hand is only a position: it lists what comes after
	// it, as a real one would, and nothing else.
	t.Run("a forged cursor is only a position", func(t *testing.T) {
		all := f.list(t, "reader", "/api/messages?limit=100").Messages
		pivot := all[4]
		b := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(b[1:], uint64(pivot.CreatedAt.UnixMicro()))
		b = append(b, pivot.ID...)
		got := f.list(t, "reader", "/api/messages?limit=100&cursor="+forge(b))
		if len(got.Messages) != len(all)-5 || got.Messages[0].ID != all[5].ID {
			t.Errorf("got %d messages starting %v, want the %d after the 5th", len(got.Messages), got.Messages, len(all)-5)
		}
		early := make([]byte, 9, 12)
		early[0] = 1
		binary.BigEndian.PutUint64(early[1:], uint64(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()))
		if got := f.list(t, "reader", "/api/messages?cursor="+forge(append(early, "ff"...))); len(got.Messages) != 0 || got.NextCursor != nil {
			t.Errorf("a cursor before every message: got %+v, want an empty last page", got)
		}
	})
}

func TestMessagesQuota(t *testing.T) {
	f := messagesFixture(t)
	var mine []domain.Message
	for i := range fixtureQuota {
		mine = append(mine, f.post(t, "carol", fmt.Sprint("carol ", i)))
	}
	rec := f.send("POST", "/api/messages", "carol", jsonType, `{"text":"one too many"}`)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("beyond the quota: got %d %s, want 429", rec.Code, rec.Body)
	}
	want := errorBody{"quota_exceeded", "you keep 5 messages, the most one author may; delete one of yours (DELETE /api/messages/{id}) to post another"}
	if got := decodeError(t, rec); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// Others are not held back, and nothing of carol's was dropped.
	f.post(t, "bob", "bob is fine")
	page := f.list(t, "reader", "/api/messages")
	n := 0
	for _, m := range page.Messages {
		if m.Author == "auth0|carol" {
			n++
		}
	}
	if n != fixtureQuota {
		t.Errorf("carol has %d messages stored, want %d", n, fixtureQuota)
	}
	if rec := f.send("DELETE", "/api/messages/"+mine[0].ID, "carol", "", ""); rec.Code != 204 {
		t.Fatalf("delete: %d", rec.Code)
	}
	f.post(t, "carol", "room again")
}
