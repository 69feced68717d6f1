package httpapi

import (
	"bytes"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/example/spaapi/app"
)

// The OpenAPI document (GET /openapi.json) is generated from the route
// table: each route's path, methods, access and its doc line (operation)
// become an operation, its access the security requirement and the error
// answers every route of that access gives. Nothing is listed twice, so
// the document cannot forget a route or a scope; the tests check that
// every answer the router gives matches it (openapi_test.go).

// operation is what the OpenAPI document says of a route besides what its
// path, methods and access say.
type operation struct {
	summary     string
	description string
	params      []param
	body        map[string]any // the JSON request body's schema; nil: none
	status      int            // the success answer's status
	answer      map[string]any // its JSON body's schema; nil: none
	headers     []string       // its headers worth naming (Location)
	// fails are the route's own error answers, by status, beyond those of
	// its access (accessFailures): their error codes.
	fails map[int][]string
}

// param is a query parameter.
type param struct {
	name, description string
	schema            map[string]any
}

// docOption sets part of an operation.
type docOption func(*operation)

// doc describes a route for the OpenAPI document: its summary, then what
// opts say (by default a 200 answer without a body).
func doc(summary string, opts ...docOption) operation {
	op := operation{summary: summary, status: http.StatusOK}
	for _, o := range opts {
		o(&op)
	}
	return op
}

// ok is a 200 answer whose JSON body is a value like v.
func ok(v any) docOption {
	return func(op *operation) { op.status, op.answer = http.StatusOK, schemaOf(reflect.TypeOf(v)) }
}

// okObject is a 200 answer whose JSON body is an object described
// elsewhere.
func okObject() docOption {
	return func(op *operation) { op.status, op.answer = http.StatusOK, map[string]any{"type": "object"} }
}

// created is a 201 answer whose body is like v, with headers.
func created(v any, headers ...string) docOption {
	return func(op *operation) {
		op.status, op.answer, op.headers = http.StatusCreated, schemaOf(reflect.TypeOf(v)), headers
	}
}

// noContent is a 204 answer.
func noContent() docOption {
	return func(op *operation) { op.status, op.answer = http.StatusNoContent, nil }
}

// describe adds a longer description.
func describe(text string) docOption { return func(op *operation) { op.description = text } }

// query adds a query parameter.
func query(name, description string, schema map[string]any) docOption {
	return func(op *operation) { op.params = append(op.params, param{name, description, schema}) }
}

// body is a JSON request body like v; limit, when set, edits its schema.
func body(v any, limit func(map[string]any)) docOption {
	return func(op *operation) {
		op.body = schemaOf(reflect.TypeOf(v))
		if limit != nil {
			limit(op.body)
		}
	}
}

// fails adds error answers: status with error codes.
func fails(status int, codes ...string) docOption {
	return func(op *operation) {
		if op.fails == nil {
			op.fails = map[int][]string{}
		}
		op.fails[status] = append(op.fails[status], codes...)
	}
}

// Error answers every route may give: an unexpected error, and the
// connection cap (LimitConnections) or a missing service.
var everyRouteFailures = map[int][]string{
	http.StatusInternalServerError: {"server_error"},
	http.StatusServiceUnavailable:  {"temporarily_unavailable"},
}

// accessFailures are the error answers of a route's access: those of the
// token check (RFC 6750, and RFC 9449 unless DPoP is off) and of a policy.
func (rt route) accessFailures(dpop bool) map[int][]string {
	out := map[int][]string{}
	if !rt.access.token {
		return out
	}
	out[http.StatusBadRequest] = []string{"invalid_request"}
	out[http.StatusUnauthorized] = []string{"unauthorized", "invalid_token"}
	out[http.StatusTooManyRequests] = []string{tooManyFailures}
	out[http.StatusServiceUnavailable] = []string{"temporarily_unavailable"} // keys, replay store
	if dpop {
		out[http.StatusUnauthorized] = append(out[http.StatusUnauthorized], "invalid_dpop_proof", "use_dpop_nonce")
		out[http.StatusTooManyRequests] = append(out[http.StatusTooManyRequests], "too_many_proofs")
	}
	if rt.access.policy != nil {
		out[http.StatusForbidden] = []string{"insufficient_scope"}
		if _, exact := rt.access.scopeSets(); !exact {
			out[http.StatusForbidden] = append(out[http.StatusForbidden], "forbidden")
		}
	}
	return out
}

// failures are all of a route's error answers: status to error codes,
// each once.
func (rt route) failures(dpop bool) map[int][]string {
	out := map[int][]string{}
	for _, m := range []map[int][]string{everyRouteFailures, rt.accessFailures(dpop), rt.doc.fails} {
		for status, codes := range m {
			for _, c := range codes {
				if !slices.Contains(out[status], c) {
					out[status] = append(out[status], c)
				}
			}
		}
	}
	return out
}

// Answers to requests no operation takes: an unknown path (or, with the
// SPA, a missing file) and a method the path does not serve. The
// document names them among its components.
var (
	notFoundCodes         = []string{"not_found"}
	methodNotAllowedCodes = []string{"method_not_allowed"}
)

// errorStatusText describes the error answers of a status.
var errorStatusText = map[int]string{
	http.StatusBadRequest:            "The request is malformed: see error and error_description.",
	http.StatusUnauthorized:          "No valid credentials: the access token (and with DPoP its proof) is missing or refused, or the route asks for a stronger or more recent login (insufficient_user_authentication, RFC 9470). WWW-Authenticate says why and names resource_metadata.",
	http.StatusForbidden:             "The token is valid, but the route's policy refuses it: insufficient_scope names the scopes needed in WWW-Authenticate.",
	http.StatusNotFound:              "No such resource.",
	http.StatusMethodNotAllowed:      "The path does not serve this method: Allow lists those it does.",
	http.StatusRequestEntityTooLarge: "The body is larger than 16 KiB.",
	http.StatusUnsupportedMediaType:  "The body is not application/json.",
	http.StatusTooManyRequests:       "Too many requests of this kind from this client: retry after Retry-After seconds where given.",
	http.StatusInternalServerError:   "An unexpected error, logged by the server.",
	http.StatusServiceUnavailable:    "A service the request needs is not available, or the server is at capacity: retry after Retry-After seconds.",
}

// openAPIDoc serves the OpenAPI document, encoded once, with the servers
// member naming the URL each request was addressed to spliced in front:
// a request with another Host costs a copy of the document, never an
// encoding of it. The last answer is kept for the next request with the
// same URL.
type openAPIDoc struct {
	document map[string]any
	base     func(*http.Request) string
	once     sync.Once
	encoded  []byte // the document without servers
	last     atomic.Pointer[encodedDoc]
}

type encodedDoc struct {
	base string
	body []byte
}

func (d *openAPIDoc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.once.Do(func() { d.encoded = mustJSON(d.document) })
	publicDocument(w)
	base := d.base(r)
	e := d.last.Load()
	if e == nil || e.base != base {
		body := d.encoded
		if base != "" {
			servers := mustJSON([]map[string]string{{"url": base}})
			servers = bytes.TrimSuffix(servers, []byte("\n"))
			body = make([]byte, 0, len(d.encoded)+len(servers)+len(`{"servers":,`))
			body = append(body, `{"servers":`...)
			body = append(body, servers...)
			body = append(body, ',')
			body = append(body, d.encoded[1:]...) // after its "{"
		}
		e = &encodedDoc{base, body}
		d.last.Store(e)
	}
	w.Header()["Vary"] = varyHost
	writeJSON(w, http.StatusOK, e.body)
}

// openAPI builds the OpenAPI 3.1 document of table.
func openAPI(table []route, cfg ResourceMetadata, auth *app.Auth) map[string]any {
	mode := app.DPoPDisabled
	var algs []string
	if auth != nil {
		mode, algs = auth.DPoPMode(), auth.ProofAlgorithms()
	}
	dpop := mode != app.DPoPDisabled
	schemes, names := securitySchemes(table, cfg, mode, algs)

	paths := map[string]any{}
	for _, rt := range table {
		path, params := openAPIPath(rt.path)
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		for _, m := range rt.methods {
			item[strings.ToLower(m)] = rt.operationObject(m, params, names, dpop)
		}
	}

	version := cfg.Version
	if version == "" {
		version = "0.0.0"
	}
	title := cfg.Name
	if title == "" {
		title = "spaapi"
	}
	info := map[string]any{
		"title":   title,
		"version": version,
		"description": "An API for single-page apps, protected by access tokens from the issuers in its protected resource metadata " +
			"(RFC 9728, " + metadataPath + "). Every error answer is JSON {\"error\", \"error_description\"}.",
	}
	if cfg.Documentation != "" {
		info["x-resource-documentation"] = cfg.Documentation
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    info,
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": schemes,
			"responses": map[string]any{
				"NotFound":         errorResponse(http.StatusNotFound, notFoundCodes, false),
				"MethodNotAllowed": errorResponse(http.StatusMethodNotAllowed, methodNotAllowedCodes, false),
			},
		},
	}
}

// securitySchemes are the ways to present a token: for each issuer an
// OAuth 2.0 scheme (authorization code with PKCE, and client
// credentials, where the provider fixes its endpoints; else OpenID
// Connect discovery), and the HTTP schemes Bearer and DPoP as DPOP_MODE
// allows them. names lists those a route's requirement may use.
func securitySchemes(table []route, cfg ResourceMetadata, mode app.DPoPMode, algs []string) (schemes map[string]any, names []string) {
	scopes := map[string]any{}
	for _, sc := range scopesOf(table) {
		var users []string
		for _, rt := range table {
			for _, set := range rt.scopeSets() {
				if slices.Contains(set, sc) {
					for _, m := range rt.methods {
						users = append(users, m+" "+rt.path)
					}
					break
				}
			}
		}
		scopes[sc] = "Needed by " + strings.Join(users, ", ")
	}
	schemes = map[string]any{}
	for i, as := range cfg.AuthorizationServers {
		name := "oauth2"
		if i > 0 {
			name += strconv.Itoa(i + 1)
		}
		switch {
		case as.AuthorizationEndpoint != "" && as.TokenEndpoint != "":
			schemes[name] = map[string]any{
				"type": "oauth2",
				"description": "Access tokens from " + as.Issuer + ": a browser app uses the authorization code flow with PKCE (S256); " +
					"a machine client, client credentials. Ask for the API's audience (resource in " + metadataPath + ").",
				"flows": map[string]any{
					"authorizationCode": map[string]any{"authorizationUrl": as.AuthorizationEndpoint, "tokenUrl": as.TokenEndpoint, "scopes": scopes},
					"clientCredentials": map[string]any{"tokenUrl": as.TokenEndpoint, "scopes": scopes},
				},
			}
		case strings.HasPrefix(as.Issuer, "https://") || strings.HasPrefix(as.Issuer, "http://"):
			schemes[name] = map[string]any{
				"type":             "openIdConnect",
				"description":      "Access tokens from " + as.Issuer + " (authorization code with PKCE for browser apps); its endpoints are in its discovery document.",
				"openIdConnectUrl": strings.TrimSuffix(as.Issuer, "/") + "/.well-known/openid-configuration",
			}
		default:
			continue
		}
		names = append(names, name)
	}
	if mode != app.DPoPRequired {
		schemes["bearer"] = map[string]any{
			"type": "http", "scheme": "bearer",
			"description": "Authorization: Bearer <access token> (RFC 6750), in the header only.",
		}
		names = append(names, "bearer")
	}
	if mode != app.DPoPDisabled {
		schemes["dpop"] = map[string]any{
			"type": "http", "scheme": "DPoP",
			"description": "Authorization: DPoP <DPoP-bound access token>, with a DPoP header holding a proof (RFC 9449) signed with one of " +
				strings.Join(algs, ", ") + ". An answer may carry DPoP-Nonce: the next proof must include it.",
		}
		names = append(names, "dpop")
	}
	return schemes, names
}

// operationObject is the OpenAPI operation of rt's method: a HEAD is its
// GET without bodies.
func (rt route) operationObject(method string, pathParams []any, schemes []string, dpop bool) map[string]any {
	head := method == http.MethodHead
	op := map[string]any{
		"operationId": operationID(method, rt.path),
		"summary":     rt.doc.summary,
	}
	if head {
		op["summary"] = "The headers of GET " + rt.path
	}
	if rt.doc.description != "" {
		op["description"] = rt.doc.description
	}
	params := slices.Clone(pathParams)
	for _, p := range rt.doc.params {
		params = append(params, map[string]any{"name": p.name, "in": "query", "description": p.description, "schema": p.schema})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if rt.doc.body != nil {
		op["requestBody"] = map[string]any{
			"required": true,
			"content":  map[string]any{"application/json": map[string]any{"schema": rt.doc.body}},
		}
	}
	if rt.access.token {
		var reqs []any
		for _, name := range schemes {
			for _, set := range rt.scopeSets() {
				reqs = append(reqs, map[string]any{name: append([]string{}, set...)})
			}
		}
		op["security"] = reqs
	}

	responses := map[string]any{}
	success := map[string]any{"description": http.StatusText(rt.doc.status)}
	if rt.doc.answer != nil && !head {
		success["content"] = map[string]any{"application/json": map[string]any{"schema": rt.doc.answer}}
	}
	if len(rt.doc.headers) > 0 {
		hs := map[string]any{}
		for _, h := range rt.doc.headers {
			hs[h] = map[string]any{"schema": map[string]any{"type": "string"}}
		}
		success["headers"] = hs
	}
	responses[strconv.Itoa(rt.doc.status)] = success
	for status, codes := range rt.failures(dpop) {
		responses[strconv.Itoa(status)] = errorResponse(status, codes, head)
	}
	op["responses"] = responses
	return op
}

// errorResponse is the OpenAPI response of an error status: the error
// body with its codes (none for a HEAD), and the headers it may carry.
func errorResponse(status int, codes []string, head bool) map[string]any {
	r := map[string]any{"description": errorStatusText[status]}
	if !head {
		r["content"] = map[string]any{"application/json": map[string]any{"schema": errorSchema(codes)}}
	}
	hs := map[string]any{}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest:
		hs["WWW-Authenticate"] = map[string]any{"description": "The challenge (RFC 6750 §3, RFC 9449 §7.1), with resource_metadata (RFC 9728 §5.1); absent when the credentials are not at fault.", "schema": map[string]any{"type": "string"}}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		hs["Retry-After"] = map[string]any{"description": "Seconds to wait.", "schema": map[string]any{"type": "string"}}
	case http.StatusMethodNotAllowed:
		hs["Allow"] = map[string]any{"description": "The methods the path serves.", "schema": map[string]any{"type": "string"}}
	}
	if len(hs) > 0 {
		r["headers"] = hs
	}
	return r
}

// errorSchema is the schema of an error body with these codes.
// A step-up refusal (RFC 9470) also names what the next login must give.
func errorSchema(codes []string) map[string]any {
	props := map[string]any{
		"error":             map[string]any{"type": "string", "enum": slices.Clone(codes)},
		"error_description": map[string]any{"type": "string"},
	}
	if slices.Contains(codes, insufficientUserAuthentication) {
		props["acr_values"] = map[string]any{"type": "string", "description": "insufficient_user_authentication: the acr values a new login must give one of, space-separated"}
		props["max_age"] = map[string]any{"type": "integer", "description": "insufficient_user_authentication: the most seconds since the user's login"}
	}
	return map[string]any{
		"type":                 "object",
		"required":             []string{"error", "error_description"},
		"additionalProperties": false,
		"properties":           props,
	}
}

// pathVariable matches a variable of a gorilla/mux template, with its
// optional pattern: {id} or {id:[0-9a-f]+}.
var pathVariable = regexp.MustCompile(`\{([^{}:]+)(?::([^{}]+))?\}`)

// openAPIPath turns a mux template into an OpenAPI path and its path
// parameters.
func openAPIPath(template string) (string, []any) {
	var params []any
	for _, m := range pathVariable.FindAllStringSubmatch(template, -1) {
		schema := map[string]any{"type": "string"}
		if m[2] != "" {
			schema["pattern"] = "^" + m[2] + "$"
		}
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": schema})
	}
	return pathVariable.ReplaceAllString(template, "{$1}"), params
}

// operationID names an operation after its method and path:
// DELETE /api/messages/{id} is deleteApiMessagesId.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	upper := true
	for _, r := range pathVariable.ReplaceAllString(path, "$1") {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			upper = true
			continue
		}
		if upper {
			r = unicode.ToUpper(r)
		}
		b.WriteRune(r)
		upper = false
	}
	return b.String()
}

var timeType = reflect.TypeFor[time.Time]()

// schemaOf is the JSON Schema of what encoding/json makes of a value of
// type t: structs are objects with their tagged fields (required unless
// omitempty) and no others.
func schemaOf(t reflect.Type) map[string]any {
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		required := []string{}
		addFields(t, props, &required)
		return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	}
	return map[string]any{}
}

// addFields adds the JSON fields of struct type t, embedded ones
// included, to props and required.
func addFields(t reflect.Type, props map[string]any, required *[]string) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			addFields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type)
		if !strings.Contains(","+opts+",", ",omitempty,") && !strings.Contains(","+opts+",", ",omitzero,") {
			*required = append(*required, name)
		}
	}
}

// textLimits limits a body's text field to 1 to max characters.
func textLimits(field string, max int) func(map[string]any) {
	return func(schema map[string]any) {
		p := schema["properties"].(map[string]any)[field].(map[string]any)
		p["minLength"], p["maxLength"] = 1, max
		p["description"] = "1 to " + strconv.Itoa(max) + " characters, not only spaces, without control characters other than newline and tab"
	}
}
