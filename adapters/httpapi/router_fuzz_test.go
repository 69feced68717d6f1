package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// fuzzRouter is the whole API on the in-memory store, holding a few
// messages, with one caller ("writer") who may read and post.
func fuzzRouter(t testing.TB) (http.Handler, *memory.Messages) {
	v := fake.New()
	v.Accept("writer", domain.Principal{Issuer: "https://one.example/", Subject: "auth0|writer", Scopes: []string{"read:messages", "write:messages"}})
	store := memory.NewMessages()
	metrics, err := httpapi.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	proofs, replay := newProofs(t, nil)
	h := httpapi.NewRouter(httpapi.Config{AllowedOrigins: []string{spa}}, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, nil),
		Health:   app.NewHealth(v, ports.Stores{Database: store, Messages: store}, replay),
		Messages: app.NewMessages(store, 1000),
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), metrics)
	for i := range 7 {
		rec := fuzzServe(h, "POST", "/api/messages", "", jsonType, []byte(fmt.Sprintf(`{"text":"message %d"}`, i)))
		if rec.Code != http.StatusCreated {
			t.Fatalf("posting: %d %s", rec.Code, rec.Body)
		}
	}
	return h, store
}

// fuzzServe sends a request as the writer, with any query string, as a
// client could send it.
func fuzzServe(h http.Handler, method, path, query, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(string(body)))
	req.URL.RawQuery = query
	req.RequestURI = path + "?" + query
	req.Header.Set("Authorization", "Bearer writer")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// snapshot is every message in the store, newest first.
func snapshot(t *testing.T, store *memory.Messages) []domain.Message {
	msgs, err := store.List(context.Background(), nil, memory.MaxMessages)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// checkErrorBody checks a refusal's body: {"error","error_description"},
// both set, printable.
func checkErrorBody(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var body errorBody
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Error == "" || body.Description == "" {
		t.Fatalf("%d: error body %+v: %v", rec.Code, body, err)
	}
	if !utf8.ValidString(body.Description) || strings.ContainsFunc(body.Description, unicode.IsControl) {
		t.Fatalf("error_description %q is not printable text", body.Description)
	}
	return body
}

// postVerdict is the oracle for POST /api/messages, from the README and
// domain.NewMessage, by its own reading of the body: the status the body
// must get (201 or the refusal's) and, for 201, the text stored.
func postVerdict(contentType string, body []byte) (int, string) {
	// Parameters are not read, but the header must be well-formed
	// ("application/json; a" is not).
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, ""
	}
	if len(body) > 16<<10 {
		return http.StatusRequestEntityTooLarge, ""
	}
	if !utf8.Valid(body) || !json.Valid(body) {
		return http.StatusBadRequest, ""
	}
	// One object whose only member, once, is "text", a string.
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		return http.StatusBadRequest, ""
	}
	var names []string
	var text *string
	for dec.More() {
		name, _ := dec.Token()
		names = append(names, fmt.Sprint(name))
		var v any
		if dec.Decode(&v) != nil {
			return http.StatusBadRequest, ""
		}
		if s, ok := v.(string); ok {
			text = &s
		}
	}
	if !slices.Equal(names, []string{"text"}) || text == nil {
		return http.StatusBadRequest, ""
	}
	// A \u escape of a lone surrogate decodes to U+FFFD: more U+FFFD in
	// the text than the body spells out means one was there.
	given := strings.Count(string(body), "\ufffd") + strings.Count(strings.ToLower(string(body)), `\ufffd`)
	if strings.Count(*text, "\ufffd") > given {
		return http.StatusBadRequest, ""
	}
	if strings.TrimSpace(*text) == "" || utf8.RuneCountInString(*text) > domain.MaxMessageLength ||
		strings.ContainsFunc(*text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		return http.StatusBadRequest, ""
	}
	return http.StatusCreated, *text
}

// FuzzPostMessage posts arbitrary bodies under arbitrary content types
// through the whole router to an in-memory store. Properties: no panic
// (no 500), the status is exactly what the oracle (postVerdict) says,
// refusals have a clear JSON error body and leave the store as it was,
// and an accepted post stores exactly one message, with the text the
// body holds.
//
//	go test -run '^$' -fuzz '^FuzzPostMessage$' -fuzztime 1m ./adapters/httpapi/
func FuzzPostMessage(f *testing.F) {
	h, store := fuzzRouter(f)
	// The bodies of TestMessages, and more.
	for _, b := range []string{
		`{"text":"hi"}`, `text=hi`, ``, `{"text":`, `{"text":"hel`, `{"text":"hello"`, `["hi"]`, `"hi"`, `{"text":"hi","author":"auth0|bob"}`,
		`{"TEXT":"hi"}`, `{"text":"hi","Text":"ho"}`, `{"text":"hi","text":"ho"}`, `{"text":42}`, `{"text":{"a":1}}`, `{}`, `{"text":null}`,
		`{"text":""}`, `{"text":"   "}`, `{"text":"` + strings.Repeat("é", 501) + `"}`, `{"text":"` + strings.Repeat("é", 500) + `"}`,
		`{"text":"a\u0007b"}`, "{\"text\":\"caf\xe9\"}", "{\"te\xffxt\":\"hi\"}", "{\"text\":\"\xc0\xaf\"}", `{"text":"a\ud800b"}`,
		`{"text":"\udc00"}`, `{"text":"\ud83d\ud83d"}`, `{"text":"\ud83d\ude00"}`, `{"text":"a"}{"text":"b"}`, `{"text":"a"} `,
		`{"text":"\ufffd"}`, "{\"text\":\"\ufffd\"}", `{"\u0074ext":"hi"}`, `{"text":"a\tb\nc"}`, `{"text":"\u2028"}`, ` {"text":"x"}`,
		`{"text":"x"}` + "\x00", `{"text":"smile \ud83d\ude00, \u00e9, \\u0041 \"q\""}`, `{"text":"` + strings.Repeat("a", 20000) + `"}`,
	} {
		f.Add([]byte(b), jsonType)
	}
	for _, ct := range []string{"", "text/plain", "application/json; charset=utf-8", "APPLICATION/JSON", "application/json;", "application/jsonx", "application/json; a", "application/json;;", "application/json; charset=utf-8; charset=x", "multipart/form-data; boundary=x"} {
		f.Add([]byte(`{"text":"hi"}`), ct)
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		before := snapshot(t, store)
		rec := fuzzServe(h, "POST", "/api/messages", "", contentType, body)
		wantStatus, wantText := postVerdict(contentType, body)
		if rec.Code != wantStatus {
			t.Fatalf("%q as %q: got %d %s, want %d", body, contentType, rec.Code, rec.Body, wantStatus)
		}
		after := snapshot(t, store)
		if rec.Code != http.StatusCreated {
			checkErrorBody(t, rec)
			if !slices.Equal(after, before) {
				t.Fatalf("%q refused with %d, but the store changed: %d messages before, %d after", body, rec.Code, len(before), len(after))
			}
			return
		}
		var m domain.Message
		if err := json.NewDecoder(rec.Body).Decode(&m); err != nil || m.Text != wantText {
			t.Fatalf("%q: answered %+v (%v), want the text %q", body, m, err, wantText)
		}
		if len(after) != len(before)+1 || after[0] != m || !slices.Equal(after[1:], before) {
			t.Fatalf("%q: the store holds %d messages (newest %+v), want %d, the new one first", body, len(after), after[0], len(before)+1)
		}
		if err := store.Delete(context.Background(), m.ID); err != nil { // back to the same state
			t.Fatal(err)
		}
	})
}

// FuzzListMessages lists messages with arbitrary query strings through
// the whole router. Properties: no panic, 200 or 400 invalid_request
// naming limit, cursor or the query string; the store unchanged; a 200
// page of at most the limit, newest first, every message after the
// cursor's position (decoded here separately), and a next_cursor only
// when the page is full.
//
//	go test -run '^$' -fuzz '^FuzzListMessages$' -fuzztime 1m ./adapters/httpapi/
func FuzzListMessages(f *testing.F) {
	h, store := fuzzRouter(f)
	rec := fuzzServe(h, "GET", "/api/messages", "limit=2", "", nil)
	var first struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := json.NewDecoder(rec.Body).Decode(&first); err != nil || first.NextCursor == "" {
		f.Fatalf("a first page: %v", err)
	}
	good := first.NextCursor
	// The queries of TestMessagesPagination, and more.
	for _, q := range []string{
		"", "limit=0", "limit=101", "limit=-1", "limit=%2B5", "limit=1.5", "limit=ten", "limit=99999999999999999999", "limit=5&limit=6",
		"cursor=" + good + "&cursor=" + good, "limit=%zz", "cursor=not-a-cursor", "cursor=" + good + "%3D", "cursor=" + good, "limit=1&cursor=" + good,
		"cursor=" + good[:len(good)-3], "cursor=" + strings.Repeat("A", 5000), "limit=100", "limit=007", "limit=", "cursor=", "limit=3;cursor=x",
		"cursor=" + good + "%0A", "access_token=writer", "limit=1&limit=", "%", "cursor=AQAAAAAAAAAAYQ", "cursor=AX__________YQ",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		before := snapshot(t, store)
		rec := fuzzServe(h, "GET", "/api/messages", query, "", nil)
		if !slices.Equal(snapshot(t, store), before) {
			t.Fatalf("?%s changed the store", query)
		}
		switch rec.Code {
		case http.StatusBadRequest:
			body := checkErrorBody(t, rec)
			if body.Error != "invalid_request" || !strings.HasPrefix(body.Description, "limit ") && !strings.HasPrefix(body.Description, "cursor ") &&
				!strings.HasPrefix(body.Description, "the query string ") && !strings.Contains(body.Description, "query string") {
				t.Fatalf("?%s: got 400 %+v, want invalid_request naming the parameter", query, body)
			}
			return
		case http.StatusOK:
		default:
			t.Fatalf("?%s: got %d %s, want 200 or 400", query, rec.Code, rec.Body)
		}
		var page struct {
			Messages   []domain.Message `json:"messages"`
			NextCursor *string          `json:"next_cursor"`
		}
		dec := json.NewDecoder(rec.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&page); err != nil || page.Messages == nil {
			t.Fatalf("?%s: %v", query, err)
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatalf("?%s is malformed, but answered 200", query)
		}
		limit := 50
		if v := q.Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil {
				t.Fatalf("?%s: limit %q answered 200", query, v)
			}
		}
		if len(page.Messages) > limit || page.NextCursor != nil && len(page.Messages) != limit {
			t.Fatalf("?%s: %d messages (next_cursor %v), limit %d", query, len(page.Messages), page.NextCursor != nil, limit)
		}
		after := cursorKey(q.Get("cursor"))
		for i, m := range page.Messages {
			if i > 0 && !page.Messages[i-1].Key().Before(m.Key()) {
				t.Fatalf("?%s: not newest first at %d", query, i)
			}
			if after != nil && !after.Before(m.Key()) {
				t.Fatalf("?%s: message %+v is not after the cursor %+v", query, m.Key(), *after)
			}
		}
	})
}

// cursorKey decodes a cursor by the README's description of it, nil for
// none: base64url of version 1, Unix microseconds (8 bytes big-endian), ID.
func cursorKey(s string) *domain.MessageKey {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if s == "" || err != nil || len(b) < 10 {
		return nil
	}
	k := domain.MessageKey{CreatedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC(), ID: string(b[9:])}
	return &k
}
