package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

// appendString must agree with the encoder of every other answer
// (encoding/json leaving <, > and & as they are) on every string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rbell\a\x00\x1f\x7f\b\f",
		"<script>&amp;</script>", "é 👋 \u2028\u2029", "bad \xff utf-8 \xc0\xaf", "\ufffd", "\xed\xa0\x80 surrogate bytes"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, got, err)
		}
		want := strings.TrimSuffix(string(mustJSON(s)), "\n")
		if string(got) != want {
			t.Errorf("%q: got %s, encoding/json gives %s", s, got, want)
		}
	})
}

func TestAppendMessageIsEncodingJSON(t *testing.T) {
	m := domain.Message{ID: "0123abcd", Author: "auth0|a\"b", AuthorIssuer: "https://i.example/", Text: "hi\n<b>there</b> é",
		CreatedAt: time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)}
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var wantMap, gotMap map[string]any
	if err := json.Unmarshal(want, &wantMap); err != nil {
		t.Fatal(err)
	}
	got := appendMessage(nil, m)
	if err := json.Unmarshal(got, &gotMap); err != nil {
		t.Fatalf("invalid JSON %s: %v", got, err)
	}
	if fmt.Sprint(gotMap) != fmt.Sprint(wantMap) {
		t.Errorf("got %s\nwant %s", got, want)
	}
	var back domain.Message
	if err := json.Unmarshal(got, &back); err != nil || back != m {
		t.Errorf("round trip: got %+v, %v; want %+v", back, err, m)
	}
}
