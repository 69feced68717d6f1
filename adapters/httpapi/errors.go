package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/example/spaapi/domain"
)

// realm is the protection space named in every WWW-Authenticate challenge.
const realm = "api"

// errorBody is every error answer's JSON body.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// requestError is a malformed request (400 invalid_request) with a fixed,
// client-safe description.
type requestError struct{ description string }

func (e *requestError) Error() string { return "invalid request: " + e.description }
func (e *requestError) Unwrap() error { return domain.ErrInvalidRequest }

var errMethodNotAllowed = errors.New("method not allowed")

// bodyError is a request body this adapter cannot read: status and a
// fixed description.
type bodyError struct {
	status      int
	code        string
	description string
}

func (e *bodyError) Error() string { return "request body: " + e.description }

// writeError is the one place errors become answers. Descriptions are fixed
// texts: library error text and token contents never reach the client.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		tokenErr *domain.TokenError
		scopeErr *domain.ScopeError
		reqErr   *requestError
		bodyErr  *bodyError
		inputErr *domain.InputError
		denied   *domain.DeniedError
		h        = w.Header()
	)
	info := infoFrom(r.Context())
	switch {
	case errors.As(err, &reqErr):
		info.reason = "invalid_request"
		h.Set("WWW-Authenticate", challenge("invalid_request", reqErr.description, ""))
		encode(w, http.StatusBadRequest, errorBody{"invalid_request", reqErr.description})
	case errors.Is(err, domain.ErrUnauthenticated):
		// RFC 6750 §3.1: no error code when the request had no credentials.
		info.reason = "missing"
		h.Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
		encode(w, http.StatusUnauthorized, errorBody{"unauthorized", "bearer token required"})
	case errors.As(err, &tokenErr):
		info.reason = string(tokenErr.Reason)
		desc := tokenErr.Reason.Description()
		h.Set("WWW-Authenticate", challenge("invalid_token", desc, ""))
		encode(w, http.StatusUnauthorized, errorBody{"invalid_token", desc})
	case errors.As(err, &scopeErr):
		info.reason = "insufficient_scope"
		desc := scopeErr.Describe()
		h.Set("WWW-Authenticate", challenge("insufficient_scope", desc, strings.Join(scopeErr.Scopes, " ")))
		encode(w, http.StatusForbidden, errorBody{"insufficient_scope", desc})
	case errors.As(err, &denied):
		info.reason = "forbidden"
		encode(w, http.StatusForbidden, errorBody{"forbidden", denied.Reason})
	case errors.Is(err, domain.ErrForbidden):
		info.reason = "forbidden"
		encode(w, http.StatusForbidden, errorBody{"forbidden", "not allowed"})
	case errors.As(err, &bodyErr):
		encode(w, bodyErr.status, errorBody{bodyErr.code, bodyErr.description})
	case errors.As(err, &inputErr):
		encode(w, http.StatusBadRequest, errorBody{"invalid_input", inputErr.Error()})
	case errors.Is(err, domain.ErrUnavailable):
		info.reason = "unavailable"
		h.Set("Retry-After", "5")
		encode(w, http.StatusServiceUnavailable, errorBody{"temporarily_unavailable", "token signing keys are not available yet; retry shortly"})
	case errors.Is(err, domain.ErrNotFound):
		encode(w, http.StatusNotFound, errorBody{"not_found", "no such resource"})
	case errors.Is(err, errMethodNotAllowed):
		encode(w, http.StatusMethodNotAllowed, errorBody{"method_not_allowed", "method not allowed on this resource"})
	default:
		info.err = err
		encode(w, http.StatusInternalServerError, errorBody{"server_error", "internal error"})
	}
}

// challenge builds a Bearer WWW-Authenticate value (RFC 6750 §3).
func challenge(code, description, scope string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="` + realm + `", error="` + code + `"`)
	if description != "" {
		b.WriteString(`, error_description="` + quotable(description) + `"`)
	}
	if scope != "" {
		b.WriteString(`, scope="` + quotable(scope) + `"`)
	}
	return b.String()
}

// quotable drops characters RFC 6750 does not allow inside these quoted
// strings (only %x20-21 / %x23-5B / %x5D-7E).
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// Constant header values, shared to save an allocation per response. Only
// ever assigned whole, never appended to.
var (
	jsonType = []string{"application/json; charset=utf-8"}
	nosniff  = []string{"nosniff"}
	noStore  = []string{"no-store"}
)

// maxBody caps request bodies.
const maxBody = 16 << 10

// decode reads a JSON object from r's body into v: Content-Type
// application/json, at most maxBody bytes, no unknown fields, nothing after
// the object. Errors are *bodyError, ready for writeError.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return &bodyError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return &bodyError{http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("the body is larger than %d bytes", maxBody)}
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return &bodyError{http.StatusBadRequest, "invalid_input", printable(fmt.Sprintf("%.40s: wrong JSON type", typeErr.Field))}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.TrimPrefix(err.Error(), "json: unknown field ")
			return &bodyError{http.StatusBadRequest, "invalid_input", printable(fmt.Sprintf("unknown field %.42s", field))}
		}
		return &bodyError{http.StatusBadRequest, "invalid_input", "the body is not a JSON object"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &bodyError{http.StatusBadRequest, "invalid_input", "the body has data after the JSON object"}
	}
	return nil
}

// printable drops control characters from text that echoes the client.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// encode writes v as JSON with status.
func encode(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
