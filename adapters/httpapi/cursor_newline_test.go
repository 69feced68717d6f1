package httpapi_test

import (
	"net/url"
	"testing"
)

// encoding/base64 ignores \r and \n, even in strict mode, so a cursor with
// line breaks in it used to be accepted as the same position: more than
// one encoding per cursor, which the cursor's parsing rules out. Found by
// FuzzDecodeCursor.
func TestCursorWithLineBreaksRefused(t *testing.T) {
	f := messagesFixture(t)
	for _, text := range []string{"one", "two", "three"} {
		f.post(t, "alice", text)
	}
	good := *f.list(t, "reader", "/api/messages?limit=1").NextCursor
	if got := f.list(t, "reader", "/api/messages?limit=1&cursor="+url.QueryEscape(good)); len(got.Messages) != 1 {
		t.Fatalf("the cursor itself: got %+v", got)
	}
	for _, c := range []string{good + "\n", good + "\r\n", "\n" + good, good[:4] + "\n" + good[4:], good[:4] + "\r" + good[4:]} {
		rec := f.send("GET", "/api/messages?limit=1&cursor="+url.QueryEscape(c), "reader", "", "")
		if rec.Code != 400 {
			t.Errorf("%q: got %d %s, want 400", c, rec.Code, rec.Body)
			continue
		}
		want := errorBody{"invalid_request", "cursor is not valid: pass the next_cursor of an earlier answer, unchanged"}
		if got := decodeError(t, rec); got != want {
			t.Errorf("%q: got %+v, want %+v", c, got, want)
		}
	}
}
