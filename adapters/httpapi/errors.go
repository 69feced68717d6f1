package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/example/spaapi/domain"
)

// realm is the protection space named in every WWW-Authenticate challenge.
const realm = "api"

// errorBody is every error answer's JSON body.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// insufficientUserAuthentication is RFC 9470's error code: the token is
// valid, the user's login behind it not strong or recent enough.
const insufficientUserAuthentication = "insufficient_user_authentication"

// stepUpBody is the JSON body of an insufficient_user_authentication
// answer: what the challenge says, for clients that read bodies (a
// browser's script reads WWW-Authenticate only where CORS exposes it).
type stepUpBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	ACRValues   string `json:"acr_values,omitempty"`
	MaxAge      *int64 `json:"max_age,omitempty"`
}

// requestError is a malformed request (400 invalid_request) with a fixed,
// client-safe description.
type requestError struct{ description string }

func (e *requestError) Error() string { return "invalid request: " + e.description }
func (e *requestError) Unwrap() error { return domain.ErrInvalidRequest }

// paramError is a query parameter this API cannot use (400
// invalid_request, naming the parameter). Unlike requestError it has
// nothing to do with the token, so it carries no challenge.
type paramError struct{ name, problem string }

func (e *paramError) Error() string { return e.name + " " + e.problem }

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
		tokenErr  *domain.TokenError
		proofErr  *domain.ProofError
		scopeErr  *domain.ScopeError
		stepUp    *domain.StepUpError
		reqErr    *requestError
		bodyErr   *bodyError
		paramErr  *paramError
		inputErr  *domain.InputError
		denied    *domain.DeniedError
		quotaErr  *domain.QuotaError
		missing   *domain.UnavailableError
		budgetErr *budgetError
		limited   *domain.FailureLimitError
		h         = w.Header()
	)
	info := infoFrom(w)
	switch {
	case errors.As(err, &budgetErr):
		writeBudgetError(w, info, budgetErr)
	case errors.As(err, &proofErr) && proofErr.Code() == domain.ProofCodeUnavailable && clientGone(r):
		info.clientGone = true
	case errors.As(err, &limited):
		// The credentials were not checked, so no challenge: other
		// credentials would fare no better until Retry-After has passed.
		info.reason = tooManyFailures
		h["Retry-After"] = []string{strconv.FormatInt(int64((limited.RetryAfter+time.Second-1)/time.Second), 10)}
		writeJSON(w, http.StatusTooManyRequests, tooManyFailuresBody)
	case errors.As(err, &proofErr):
		writeProofError(w, r, info, proofErr, err)
	case errors.As(err, &reqErr):
		info.reason = "invalid_request"
		h["Www-Authenticate"] = info.schemes.challenges(r, info.scheme, http.StatusBadRequest, "invalid_request", reqErr.description, "")
		encode(w, http.StatusBadRequest, errorBody{"invalid_request", reqErr.description})
	case errors.Is(err, domain.ErrUnauthenticated):
		// RFC 6750 §3.1: no error code when the request had no credentials.
		info.reason = "missing"
		h["Www-Authenticate"] = info.schemes.challenges(r, info.scheme, http.StatusUnauthorized, "", "", "")
		encode(w, http.StatusUnauthorized, errorBody{"unauthorized", info.schemes.missingCredentials()})
	case errors.As(err, &tokenErr):
		info.reason = string(tokenErr.Reason)
		desc := tokenErr.Reason.Description()
		h["Www-Authenticate"] = info.schemes.challenges(r, info.scheme, http.StatusUnauthorized, "invalid_token", desc, "")
		encode(w, http.StatusUnauthorized, errorBody{"invalid_token", desc})
	case errors.As(err, &scopeErr):
		info.reason = "insufficient_scope"
		desc := scopeErr.Describe()
		h["Www-Authenticate"] = info.schemes.challenges(r, info.scheme, http.StatusForbidden, "insufficient_scope", desc, strings.Join(scopeErr.Scopes, " "))
		encode(w, http.StatusForbidden, errorBody{"insufficient_scope", desc})
	case errors.As(err, &stepUp):
		// RFC 9470 §3: the token is fine, the login behind it is not
		// enough; the challenge says what the next login must give.
		// Not a failed credential: nothing here counts against the
		// client's failure limit (app.Auth.Authenticate has passed).
		info.reason = insufficientUserAuthentication
		body := stepUpBody{Error: insufficientUserAuthentication, Description: stepUp.Reason, ACRValues: strings.Join(stepUp.ACR, " ")}
		var params []string
		if body.ACRValues != "" {
			params = append(params, "acr_values", body.ACRValues)
		}
		if secs := stepUp.MaxAgeSeconds(); stepUp.MaxAge > 0 {
			body.MaxAge = &secs
			params = append(params, "max_age", strconv.FormatInt(secs, 10))
		}
		h["Www-Authenticate"] = info.schemes.challenges(r, info.scheme, http.StatusUnauthorized, insufficientUserAuthentication, stepUp.Reason, "", params...)
		encode(w, http.StatusUnauthorized, body)
	case errors.As(err, &denied):
		info.reason = "forbidden"
		encode(w, http.StatusForbidden, errorBody{"forbidden", denied.Reason})
	case errors.Is(err, domain.ErrForbidden):
		info.reason = "forbidden"
		encode(w, http.StatusForbidden, errorBody{"forbidden", "not allowed"})
	case errors.As(err, &bodyErr):
		encode(w, bodyErr.status, errorBody{bodyErr.code, bodyErr.description})
	case errors.As(err, &paramErr):
		encode(w, http.StatusBadRequest, errorBody{"invalid_request", paramErr.Error()})
	case errors.As(err, &inputErr):
		encode(w, http.StatusBadRequest, errorBody{"invalid_input", inputErr.Error()})
	case errors.As(err, &quotaErr):
		// The error names what is counted and how to make room.
		encode(w, http.StatusTooManyRequests, errorBody{"quota_exceeded", quotaErr.Describe()})
	case errors.Is(err, domain.ErrUnavailable) && clientGone(r):
		info.clientGone = true // nobody to answer: logged as 499, at INFO
	case errors.Is(err, domain.ErrUnavailable):
		// What is missing is named by the app layer in fixed words; the
		// cause (addresses, driver errors) goes to the log only.
		info.reason = "unavailable"
		info.err = err
		what := "a service this request needs"
		if errors.As(err, &missing) {
			what = missing.What
		}
		h.Set("Retry-After", "5")
		encode(w, http.StatusServiceUnavailable, errorBody{"temporarily_unavailable", "not available: " + what + "; retry shortly"})
	case errors.Is(err, domain.ErrNotFound):
		encode(w, http.StatusNotFound, errorBody{"not_found", "no such resource"})
	case errors.Is(err, errMethodNotAllowed):
		encode(w, http.StatusMethodNotAllowed, errorBody{"method_not_allowed", "method not allowed on this resource"})
	case clientGone(r):
		info.clientGone = true
	default:
		info.err = err
		encode(w, http.StatusInternalServerError, errorBody{"server_error", "internal error"})
	}
}

// tooManyFailures is the error code (and the log's and metrics' reason)
// of a request refused by the failed-credential limit.
const tooManyFailures = "too_many_failures"

var tooManyFailuresBody = mustJSON(errorBody{tooManyFailures,
	"too many requests with refused credentials came from this address; credentials are not checked until the time in Retry-After has passed"})

// clientGone reports whether the client of r has closed the connection:
// net/http cancels a request's context when its connection closes. An
// error that would be a 500 or a 503 is then most likely that (a canceled
// query, however the driver words it), and nobody would read the answer:
// writeError logs it as a client disconnect instead of a server error.
func clientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// writeBudgetError answers a list the answer budget could not hold: 429
// when the caller holds its share (its own unread answers), else 503 (the
// server's budget is full). Retry-After: 1 either way: bytes come back as
// soon as answers in flight are written. The connection is closed after
// the answer: a crowd of slow readers pipelines requests, and each would
// cost a refusal (a token check, a wait, a log line) while the budget
// stays full; a client that is only unlucky opens a new one.
func writeBudgetError(w http.ResponseWriter, info *requestInfo, e *budgetError) {
	w.Header()["Retry-After"] = retryOne
	w.Header()["Connection"] = connectionClose
	if e.share {
		info.note = "answer_share_full"
		encode(w, http.StatusTooManyRequests, errorBody{"too_many_requests",
			"your earlier answers are still being sent (the client has not read them); read them, then retry"})
		return
	}
	info.note, info.err, info.warn = "answer_budget_full", e, true
	encode(w, http.StatusServiceUnavailable, errorBody{"temporarily_unavailable",
		"the server is busy sending other answers; retry in a moment"})
}

// Header values of budget refusals, only ever assigned whole.
var (
	retryOne        = []string{"1"}
	connectionClose = []string{"close"}
)

// writeProofError answers a refused DPoP request (or a Bearer one DPoP
// rules refuse) by its error code; err is the whole error, for the log of
// a 503. The reason is counted and logged, never the proof or the token.
// With nonces on, requireAuth has already set DPoP-Nonce (use_dpop_nonce
// needs it).
func writeProofError(w http.ResponseWriter, r *http.Request, info *requestInfo, pe *domain.ProofError, err error) {
	info.reason = string(pe.Reason)
	desc := pe.Describe()
	h := w.Header()
	switch code := pe.Code(); code {
	case domain.ProofCodeNone:
		h["Www-Authenticate"] = info.schemes.challenges(r, info.scheme, http.StatusUnauthorized, "", "", "")
		encode(w, http.StatusUnauthorized, errorBody{"unauthorized", desc})
	case domain.ProofCodeInvalidRequest:
		h["Www-Authenticate"] = info.schemes.challenges(r, info.scheme, http.StatusBadRequest, code, desc, "")
		encode(w, http.StatusBadRequest, errorBody{code, desc})
	case domain.ProofCodeUnavailable:
		// The replay store cannot answer, or cannot vouch for a proof
		// made before it restarted: refuse rather than accept a proof
		// unchecked. Its error goes to the log only.
		info.err = err
		h.Set("Retry-After", retryAfter(pe.RetryAfter, 5*time.Second))
		encode(w, http.StatusServiceUnavailable, errorBody{code, desc})
	case domain.ProofCodeTooMany:
		// The proof is good, but its key or token holds its share of the
		// replay cache: this client is sending proofs faster than the
		// server will remember for it. No challenge: the credentials are
		// fine, and a client must not read this as a reason to drop them.
		h.Set("Retry-After", retryAfter(pe.RetryAfter, time.Second))
		encode(w, http.StatusTooManyRequests, errorBody{code, desc})
	default: // invalid_dpop_proof, use_dpop_nonce, invalid_token
		h["Www-Authenticate"] = info.schemes.challenges(r, info.scheme, http.StatusUnauthorized, code, desc, "")
		encode(w, http.StatusUnauthorized, errorBody{code, desc})
	}
}

// retryAfter is a Retry-After value: d (def when 0) in whole seconds,
// rounded up, at least 1.
func retryAfter(d, def time.Duration) string {
	if d <= 0 {
		d = def
	}
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}

// challenge builds a Bearer WWW-Authenticate value (RFC 6750 §3), with
// params: further auth-params, name then value (RFC 9470's acr_values
// and max_age).
func challenge(code, description, scope string, params ...string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="` + realm + `", error="` + code + `"`)
	if description != "" {
		b.WriteString(`, error_description="` + quotable(description) + `"`)
	}
	if scope != "" {
		b.WriteString(`, scope="` + quotable(scope) + `"`)
	}
	writeParams(&b, params, ", ", "")
	return b.String()
}

// writeParams writes auth-params given as name, value, name, value, ...,
// each value quoted, between before and after.
func writeParams(b *strings.Builder, params []string, before, after string) {
	for i := 0; i+1 < len(params); i += 2 {
		b.WriteString(before + params[i] + `="` + quotable(params[i+1]) + `"` + after)
	}
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

// maxBody caps request bodies (16 KiB).
const maxBody = 16 << 10

// decode reads a JSON object from r's body into v, a pointer to a struct:
// Content-Type application/json, at most maxBody bytes of valid UTF-8, no
// lone UTF-16 surrogates in escapes, only v's fields spelt exactly as
// tagged (encoding/json would accept "TEXT" for "text"), each at most once
// (it would keep the last), and nothing after the object. Errors are
// *bodyError, ready for writeError, and say what is wrong.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	// A malformed parameter ("application/json; a") makes the whole
	// header malformed: ParseMediaType returns the type and an error.
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return &bodyError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json"}
	}
	// The server's read deadline is the header timeout; a body may take
	// longer. (A writer that cannot set it, as in tests, keeps none.)
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &bodyError{http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("the body is larger than %d bytes", maxBody)}
		}
		return &bodyError{http.StatusBadRequest, "invalid_input", "the body could not be read"}
	}
	if !utf8.Valid(body) {
		return &bodyError{http.StatusBadRequest, "invalid_input", "the body is not valid UTF-8"}
	}
	if err := checkKeys(body, fieldNames(v)); err != nil {
		return err
	}
	if hasLoneSurrogate(body) {
		return &bodyError{http.StatusBadRequest, "invalid_input", `the body has a \u escape that is not a valid character (an unpaired UTF-16 surrogate)`}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return &bodyError{http.StatusBadRequest, "invalid_input", printable(fmt.Sprintf("%.40s must be a JSON %s", typeErr.Field, jsonKind(typeErr.Type)))}
		}
		return syntaxError(err)
	}
	return nil
}

// checkKeys walks the body's top-level object: it must be one object,
// with only known keys, each once, and nothing after it.
func checkKeys(body []byte, known []string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &bodyError{http.StatusBadRequest, "invalid_input", "the body must be a JSON object, like {\"text\":\"hello\"}"}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		key, _ := tok.(string) // inside an object, tokens here are keys
		switch {
		case seen[key]:
			return &bodyError{http.StatusBadRequest, "invalid_input", printable(fmt.Sprintf("the field %.40q is given more than once", key))}
		case !slices.Contains(known, key):
			for _, k := range known {
				if strings.EqualFold(k, key) {
					return &bodyError{http.StatusBadRequest, "invalid_input", printable(fmt.Sprintf("unknown field %.40q: field names are case-sensitive, use %q", key, k))}
				}
			}
			return &bodyError{http.StatusBadRequest, "invalid_input", printable(fmt.Sprintf("unknown field %.42q", key))}
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return syntaxError(err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return syntaxError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &bodyError{http.StatusBadRequest, "invalid_input", "the body has data after the JSON object"}
	}
	return nil
}

// syntaxError describes malformed JSON without echoing it.
func syntaxError(err error) error {
	var syntax *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &bodyError{http.StatusBadRequest, "invalid_input", "the body ends before its JSON does (unexpected end of JSON input)"}
	case errors.As(err, &syntax):
		return &bodyError{http.StatusBadRequest, "invalid_input", fmt.Sprintf("the body is not valid JSON (syntax error at byte %d)", syntax.Offset)}
	}
	return &bodyError{http.StatusBadRequest, "invalid_input", "the body is not valid JSON"}
}

// fieldNames returns the JSON names of the fields of the struct v points to.
func fieldNames(v any) []string {
	t := reflect.TypeOf(v).Elem()
	names := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// jsonKind names the JSON type a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return "number"
}

// hasLoneSurrogate reports whether a \u escape in JSON text names half of
// a UTF-16 surrogate pair without its other half; encoding/json would
// silently turn it into U+FFFD. It assumes the text is valid JSON, where
// backslashes occur only inside strings.
func hasLoneSurrogate(b []byte) bool {
	hex4 := func(i int) (rune, bool) { // the four hex digits of a \u at i
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' {
			i++ // skip the escaped character, which may be a backslash
			continue
		}
		r, ok := hex4(i)
		if !ok {
			return false // malformed: json.Unmarshal will say so
		}
		switch {
		case utf16.IsSurrogate(r) && r < 0xdc00: // high half: a low half must follow
			lo, ok := hex4(i + 6)
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 11
		case utf16.IsSurrogate(r): // a low half on its own
			return true
		default:
			i += 5
		}
	}
	return false
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

// encode writes v as JSON with status. The JSON is encoded into a pooled
// buffer, then written with one Write. <, > and & are written as they are,
// not as \u003c, \u003e and \u0026: answers are application/json with
// nosniff, never HTML, and "Bearer <token>" should read as it is.
func encode(w http.ResponseWriter, status int, v any) {
	b := jsonBuffers.Get().(*jsonBuffer)
	b.buf.Reset()
	_ = b.enc.Encode(v) // only unsupported types fail: none is passed here
	writeJSON(w, status, b.buf.Bytes())
	if b.buf.Cap() <= maxPooledJSON {
		jsonBuffers.Put(b)
	}
}

// writeJSON writes body, already JSON, with status.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// mustJSON returns v as encode writes it (newline included). For values
// that always encode, such as constant answers.
func mustJSON(v any) []byte {
	var b bytes.Buffer
	if err := newEncoder(&b).Encode(v); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// jsonBuffer is a buffer with an encoder writing to it, reused through
// jsonBuffers so that encode allocates neither.
type jsonBuffer struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonBuffers = sync.Pool{New: func() any {
	b := new(jsonBuffer)
	b.enc = newEncoder(&b.buf)
	return b
}}

// newEncoder is the JSON encoder of every answer: like encoding/json's,
// but leaving <, > and & as they are (see encode).
func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// maxPooledJSON: larger buffers (a big answer) are left to the collector
// rather than kept in the pool.
const maxPooledJSON = 64 << 10
