package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

// credentials returns the access token of r and its scheme: only from one
// "Authorization: Bearer <b64token>" (RFC 6750 §2.1) or "Authorization:
// DPoP <token68>" (RFC 9449 §7.1, the same syntax) header, scheme
// case-insensitive, one or more spaces. Tokens in the query string or
// body are never used.
//
// Errors: domain.ErrUnauthenticated when there are no such credentials;
// a *requestError (invalid_request) for several Authorization headers or a
// token in both header and query; a *domain.TokenError (malformed) when the
// credentials are not b64token syntax.
func credentials(r *http.Request) (app.Credentials, error) {
	values := r.Header.Values("Authorization")
	if len(values) > 1 {
		return app.Credentials{}, &requestError{"more than one Authorization header"}
	}
	if len(values) == 0 {
		return app.Credentials{}, domain.ErrUnauthenticated
	}
	// Only spaces and tabs surround a field value (RFC 9110 §5.5); other
	// white space (U+00A0, U+0085, ...) is part of it, and no b64token.
	name, rest, _ := strings.Cut(strings.Trim(values[0], " \t"), " ")
	var scheme app.Scheme
	switch {
	case strings.EqualFold(name, "Bearer"):
		scheme = app.SchemeBearer
	case strings.EqualFold(name, "DPoP"):
		scheme = app.SchemeDPoP
	default:
		return app.Credentials{}, domain.ErrUnauthenticated
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return app.Credentials{Scheme: scheme}, domain.ErrUnauthenticated
	}
	if r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return app.Credentials{Scheme: scheme}, &requestError{"access token given in both the Authorization header and the query string"}
	}
	if !isB64Token(token) {
		return app.Credentials{Scheme: scheme}, domain.InvalidToken(domain.ReasonMalformed, errors.New("credentials are not b64token syntax"))
	}
	return app.Credentials{Scheme: scheme, Token: token}, nil
}

// b64tokenChar marks the characters of RFC 6750's b64token before the "=" padding.
var b64tokenChar = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/") {
		t[c] = true
	}
	return t
}()

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for i < len(s) && b64tokenChar[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
