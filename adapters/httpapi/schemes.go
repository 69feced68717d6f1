package httpapi

import (
	"net/http"
	"strings"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// schemes is what protected routes accept, for their challenges: Bearer,
// DPoP or both, by the DPoP mode (RFC 6750 §3, RFC 9449 §7.1).
type schemes struct {
	mode app.DPoPMode
	algs string // the DPoP challenge's algs: accepted proof algorithms, space-separated
	// metadata, when set, is named in every challenge (RFC 9728 §5.1).
	metadata *metadata
}

func newSchemes(auth *app.Auth, m *metadata) *schemes {
	return &schemes{mode: auth.DPoPMode(), algs: quotable(strings.Join(auth.ProofAlgorithms(), " ")), metadata: m}
}

// challenges returns the WWW-Authenticate values of an answer with error
// code ("" when the request had no credentials the API accepts, RFC 6750
// §3.1), description, scope and params (further auth-params of the
// error, name then value: RFC 9470's acr_values and max_age), to a
// request that used scheme; status is the answer's. One value per scheme,
// so that each is its own header field:
//
//   - DPoP disabled: the Bearer challenge only;
//   - DPoP required: the DPoP challenge only;
//   - allowed: the challenge of the scheme used (Bearer when none) with
//     the error, and, on a 401, the other scheme's without one, so that
//     the client learns it may use either. Without credentials both come
//     without an error.
//
// Each value ends with resource_metadata, the URL of the API's protected
// resource metadata for a client that called r (RFC 9728 §5.1).
func (s *schemes) challenges(r *http.Request, scheme app.Scheme, status int, code, description, scope string, params ...string) []string {
	values := s.offer(scheme, status, code, description, scope, params...)
	if s != nil && s.metadata != nil {
		if u := s.metadata.url(r); u != "" {
			for i, v := range values {
				values[i] = v + `, resource_metadata="` + quotable(u) + `"`
			}
		}
	}
	return values
}

// offer returns the challenges of the schemes offered (see challenges).
func (s *schemes) offer(scheme app.Scheme, status int, code, description, scope string, params ...string) []string {
	switch {
	case s == nil || s.mode == app.DPoPDisabled:
		return []string{bearerChallenge(code, description, scope, params...)}
	case s.mode == app.DPoPRequired:
		return []string{s.dpopChallenge(code, description, scope, params...)}
	case code == "":
		return []string{bearerChallenge("", "", ""), s.dpopChallenge("", "", "")}
	case scheme == app.SchemeDPoP && status == http.StatusUnauthorized:
		return []string{s.dpopChallenge(code, description, scope, params...), bearerChallenge("", "", "")}
	case scheme == app.SchemeDPoP:
		return []string{s.dpopChallenge(code, description, scope, params...)}
	case status == http.StatusUnauthorized:
		return []string{bearerChallenge(code, description, scope, params...), s.dpopChallenge("", "", "")}
	}
	return []string{bearerChallenge(code, description, scope, params...)}
}

// bearerChallenge builds a Bearer challenge (RFC 6750 §3): the realm, and
// the error when there is one.
func bearerChallenge(code, description, scope string, params ...string) string {
	if code == "" {
		return `Bearer realm="` + realm + `"`
	}
	return challenge(code, description, scope, params...)
}

// dpopChallenge builds a DPoP challenge (RFC 9449 §7.1): the error when
// there is one, in RFC 6750's parameters and params, and the accepted
// algorithms.
func (s *schemes) dpopChallenge(code, description, scope string, params ...string) string {
	var b strings.Builder
	b.WriteString("DPoP ")
	if code != "" {
		b.WriteString(`error="` + code + `", `)
		if description != "" {
			b.WriteString(`error_description="` + quotable(description) + `", `)
		}
		if scope != "" {
			b.WriteString(`scope="` + quotable(scope) + `", `)
		}
		writeParams(&b, params, "", ", ")
	}
	b.WriteString(`algs="` + s.algs + `"`)
	return b.String()
}

// missingCredentials describes, in a 401's body, what the API wants.
func (s *schemes) missingCredentials() string {
	switch {
	case s == nil || s.mode == app.DPoPDisabled:
		return "bearer token required"
	case s.mode == app.DPoPRequired:
		return domain.ProofRequired.Description()
	}
	return "access token required: Authorization: Bearer <token>, or DPoP <token> with a DPoP proof"
}

// dpopHeader is the DPoP header's canonical key, for a map lookup that
// does not canonicalise (and allocate) on every request.
const dpopHeader = "Dpop"

// dpopRequest prepares the DPoP side of a request whose credentials c were
// read without error:
//
//   - with DPoP disabled, DPoP headers are ignored (and requireAuth has
//     taken the DPoP scheme for no credentials);
//   - in allowed mode, a DPoP proof with the Bearer scheme is a confused
//     client: 400 invalid_request (required mode refuses Bearer anyway);
//   - the DPoP scheme: c gets what its proof must match (method, the URL
//     htu rebuilds, every DPoP header value), and with nonces on the
//     answer, whatever it is, carries the current nonce (RFC 9449 §8.2),
//     so clients pick up the next one as the window turns.
func dpopRequest(w http.ResponseWriter, r *http.Request, auth *app.Auth, c *app.Credentials, htu func(*http.Request) string) error {
	mode := auth.DPoPMode()
	switch {
	case mode == app.DPoPDisabled:
		return nil
	case c.Scheme == app.SchemeBearer:
		if mode == app.DPoPAllowed && len(r.Header[dpopHeader]) > 0 {
			return &requestError{"a DPoP proof came with the Bearer scheme; send a DPoP-bound token as Authorization: DPoP <token>"}
		}
		return nil
	}
	if nonce := auth.DPoPNonce(); nonce != "" {
		w.Header()["Dpop-Nonce"] = []string{nonce}
	}
	c.Proof = ports.ProofRequest{Method: r.Method, URL: htu(r), Proofs: r.Header[dpopHeader]}
	return nil
}

// requestURL is the URL a request was addressed to, for a proof's htu,
// when the router is given no policy for it (Config.HTU): the scheme of
// the connection, the Host header and the path. Behind a proxy that is
// not what the client used; cmd/api always sets Config.HTU.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if r.Host == "" || strings.ContainsAny(r.Host, "/?#@\\ ") {
		return ""
	}
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return scheme + "://" + r.Host + path
}

// dpopOutcomes are the outcome label's values for DPoP refusals: every
// domain.ProofReason (all begin with "dpop_").
func dpopOutcomes() []string {
	var out []string
	for _, r := range domain.ProofReasons() {
		out = append(out, string(r))
	}
	return out
}
