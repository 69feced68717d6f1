package httpapi_test

import (
	"encoding/base64"
	"net/url"
	"testing"
)

// Through the router: a cursor whose ID has any character but lowercase
// hex (letters past f, upper case, punctuation, non-ASCII) is 400
// invalid_request; the same position with a hex ID lists messages.
func TestCursorIDOutsideLowercaseHexRefused(t *testing.T) {
	f := messagesFixture(t)
	for _, text := range []string{"one", "two", "three"} {
		f.post(t, "alice", text)
	}
	good := *f.list(t, "reader", "/api/messages?limit=1").NextCursor
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatalf("next_cursor %q is not unpadded base64url: %v", good, err)
	}
	withID := func(id string) string {
		return base64.RawURLEncoding.EncodeToString(append(append([]byte{}, raw[:9]...), id...))
	}
	for _, id := range []string{"ff", "0123456789abcdef", string(raw[9:])} {
		rec := f.send("GET", "/api/messages?limit=1&cursor="+url.QueryEscape(withID(id)), "reader", "", "")
		if rec.Code != 200 {
			t.Errorf("ID %q: got %d %s, want 200", id, rec.Code, rec.Body)
		}
	}
	want := errorBody{"invalid_request", "cursor is not valid: pass the next_cursor of an earlier answer, unchanged"}
	for _, id := range []string{"z", "g", "G", "F", "0123456789abcdez", "z0123456789abcdef", "ffffffffffffffg0", "0x1f", "ff ", "-1", "ff\x00", "é"} {
		rec := f.send("GET", "/api/messages?limit=1&cursor="+url.QueryEscape(withID(id)), "reader", "", "")
		if rec.Code != 400 {
			t.Errorf("ID %q: got %d %s, want 400", id, rec.Code, rec.Body)
			continue
		}
		if got := decodeError(t, rec); got != want {
			t.Errorf("ID %q: got %+v, want %+v", id, got, want)
		}
	}
}
