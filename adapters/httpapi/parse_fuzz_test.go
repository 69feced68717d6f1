package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

// b64tokenGrammar is RFC 6750's b64token, written independently of
// isB64Token.
var b64tokenGrammar = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

// bearerGrammar says what credentials must make of an Authorization value
// (and an access_token in the query string, or not), as the README,
// RFC 6750 §2.1 and RFC 9449 §7.1 put it: credentials = ("Bearer" / "DPoP")
// 1*SP b64token, the scheme in any case. Only spaces and tabs around the value are not part of it
// (RFC 9110 §5.5: HTTP strips them). It returns the token and "ok", or
// what the refusal is: "none" (no bearer credentials), "request" (a token
// in the query too), "malformed" (not b64token).
func bearerGrammar(value string, query bool) (string, string) {
	v := strings.Trim(value, " \t")
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "DPoP")) {
		return "", "none"
	}
	token := strings.TrimLeft(rest, " ")
	switch {
	case token == "":
		return "", "none"
	case query:
		return "", "request"
	case !b64tokenGrammar.MatchString(token):
		return "", "malformed"
	}
	return token, "ok"
}

// FuzzBearerToken: credentials never panics, accepts exactly the grammar
// (bearerGrammar), refuses with the error the README gives for each case,
// and returns a token that is a substring of the header's value.
//
//	go test -run '^$' -fuzz '^FuzzBearerToken$' -fuzztime 1m ./adapters/httpapi/
func FuzzBearerToken(f *testing.F) {
	// The values of TestAnswers and TestIsB64Token, and more.
	for _, v := range []string{
		"Bearer abc", "bearer abc", "BEARER abc", "BeArEr  abc", "Bearer", "Bearer ", "Bearer    ", "", " ", "Basic dXNlcjpwYXNz",
		"Bearer invalidToken abc", "Bearer a=b", "Bearer abc==", "Bearer =", "Bearer\tabc", " Bearer abc ", "\tBearer abc\t",
		"Bearer abc\u00a0", "\u00a0Bearer abc", "Bearer abc\u0085", "Bearer abc\n", "Bearer abc\r\n", "Bearer abc\v", "Bearer é",
		"Bearerabc", "Bearer eyJ.eyJ.sig====", "Bearer AZaz09-._~+/", "Bearer a,b", `Bearer ab"`, "DPoP abc", "dpop  abc", "DPoP", "DPoPabc", "Bearer\u3000abc",
		"known to the fake but not b64token", "Bearer abc, Bearer def", "Bearer \x00",
	} {
		f.Add(v, false)
		f.Add(v, true)
	}
	f.Fuzz(func(t *testing.T, value string, query bool) {
		r := &http.Request{Header: http.Header{"Authorization": {value}}, URL: &url.URL{Path: "/api/private"}}
		if query {
			r.URL.RawQuery = "access_token=x"
		}
		c, err := credentials(r)
		tok := c.Token
		want, kind := bearerGrammar(value, query)
		var reqErr *requestError
		var tokErr *domain.TokenError
		switch {
		case kind == "ok" && (err != nil || tok != want):
			t.Fatalf("%q: got %q, %v; want %q", value, tok, err, want)
		case kind == "ok" && !strings.Contains(value, tok):
			t.Fatalf("%q: token %q is not part of it", value, tok)
		case kind == "none" && (err != domain.ErrUnauthenticated || tok != ""):
			t.Fatalf("%q: got %q, %v; want no credentials", value, tok, err)
		case kind == "request" && (!errors.As(err, &reqErr) || tok != ""):
			t.Fatalf("%q with a query token: got %q, %v; want invalid_request", value, tok, err)
		case kind == "malformed" && (!errors.As(err, &tokErr) || tokErr.Reason != domain.ReasonMalformed || tok != ""):
			t.Fatalf("%q: got %q, %v; want a malformed token", value, tok, err)
		}
	})
}

// FuzzDecodeCursor: decodeCursor never panics, and what it accepts is
// exactly what encodeCursor makes of the key it returns (one encoding per
// position), with an ID of 1 to 64 lowercase hex digits and a time no
// later than year 9999.
//
//	go test -run '^$' -fuzz '^FuzzDecodeCursor$' -fuzztime 1m ./adapters/httpapi/
func FuzzDecodeCursor(f *testing.F) {
	good := encodeCursor(&domain.MessageKey{CreatedAt: time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: "0123456789abcdef"})
	// The refused cursors of TestMessagesPagination, and more.
	for _, s := range []string{
		good, good + "=", good + "A", good[:len(good)-1], good[:len(good)-3], strings.NewReplacer("-", "+", "_", "/").Replace(good),
		"not-a-cursor", "", strings.Repeat("A", 5000), "AQ", "AQAAAAAAAAAAYQ", "AgAAAAAAAAAAYQ", "AX__________YQ", "AQAAAAAAAAAAQQ",
		"AQAAAAAAAAAAJyBPUiAxPTEgLS0", "AQAAAAAAAAAAYWFh\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := decodeCursor(s)
		if !ok {
			return
		}
		if again := encodeCursor(&k); again != s {
			t.Fatalf("%q decodes to %+v, which encodes to %q", s, k, again)
		}
		if len(k.ID) < 1 || len(k.ID) > maxCursorID || strings.Trim(k.ID, "0123456789abcdef") != "" {
			t.Fatalf("%q: ID %q", s, k.ID)
		}
		if k.CreatedAt.After(time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)) || k.CreatedAt.Location() != time.UTC {
			t.Fatalf("%q: time %v", s, k.CreatedAt)
		}
	})
}
