package httpapi_test

import (
	"strings"
	"testing"

	"github.com/example/spaapi/domain"
)

// Answers are JSON with nosniff, never HTML: <, > and & are written as
// they are, in the error answers, the cached message answers and the
// hand-encoded list alike.
func TestAnswersWriteHTMLCharactersAsTheyAre(t *testing.T) {
	f := newFixture(t)
	f.fake.Accept("writer", domain.Principal{Subject: "auth0|carol", Issuer: "https://issuer.example/",
		Scopes: []string{"read:messages", "write:messages"}})
	const text = `<b>fish & chips</b>`

	for _, tc := range []struct {
		name                        string
		method, target, token, body string
		status                      int
		want                        string
	}{
		{"401 without a token", "GET", "/api/private", "", "", 401,
			`{"error":"unauthorized","error_description":"access token required: Authorization: Bearer <token>, or DPoP <token> with a DPoP proof"}` + "\n"},
		{"201 of a post", "POST", "/api/messages", "writer", `{"text":"\u003cb\u003efish \u0026 chips\u003c/b\u003e"}`, 201, `"text":"` + text + `"`},
		{"200 of the list", "GET", "/api/messages", "writer", "", 200, `"text":"` + text + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.send(tc.method, tc.target, tc.token, jsonType, tc.body)
			body := rec.Body.String()
			if rec.Code != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %s\nwant %d with %s", rec.Code, body, tc.status, tc.want)
			}
			if strings.Contains(body, `\u00`) {
				t.Errorf("body %s escapes <, > or &", body)
			}
			if typ, sniff := rec.Header().Get("Content-Type"), rec.Header().Get("X-Content-Type-Options"); typ != "application/json; charset=utf-8" || sniff != "nosniff" {
				t.Errorf("Content-Type %q, X-Content-Type-Options %q; want application/json; charset=utf-8, nosniff", typ, sniff)
			}
		})
	}
}
