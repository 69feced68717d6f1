package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/example/spaapi/app"
)

// ResourceMetadata is what the API says of itself in its protected
// resource metadata (RFC 9728) and its OpenAPI document, besides what the
// route table and the DPoP settings say.
type ResourceMetadata struct {
	// Resource is the API's resource identifier, an http(s) URL (cmd/api:
	// the audience, or PUBLIC_URL; see CheckResource). "": each request's
	// own origin, as Config.HTU rebuilds it.
	Resource string
	// AuthorizationServers are the issuers whose tokens the API accepts.
	AuthorizationServers []AuthorizationServer
	// Name and Documentation are resource_name and resource_documentation
	// (RESOURCE_NAME, RESOURCE_DOCUMENTATION): "" leaves them out.
	Name, Documentation string
	// Version is the OpenAPI document's info.version; "" for "0.0.0".
	Version string
	// CertificateBound says the API reads its clients' certificates (its
	// own TLS asks for them, or trusted proxies pass them on), so that
	// tokens bound to one (RFC 8705) can be used:
	// tls_client_certificate_bound_access_tokens.
	CertificateBound bool
}

// AuthorizationServer is an issuer the API trusts, with the endpoints of
// its OAuth 2.0 flows where its provider fixes them ("" where only its
// discovery document says).
type AuthorizationServer struct {
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
}

// metadataPath is the well-known location of protected resource metadata
// (RFC 9728 §3). A resource identifier with a path has its metadata at
// this path followed by its own (§3.1), served too.
const metadataPath = "/.well-known/oauth-protected-resource"

// CheckResource checks a resource identifier: an http(s) URL with a host,
// without user, query or fragment (RFC 9728 §1.2), whose path has only
// characters a route template may hold literally.
func CheckResource(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(s, "#") || u.Opaque != "" {
		return fmt.Errorf("%q is not an http(s) URL without query or fragment, like https://api.example.com", s)
	}
	for _, c := range u.EscapedPath() {
		if !(c < 0x80 && pathChar(byte(c))) {
			return fmt.Errorf("%q: its path has a character (%q) a well-known location cannot be built from", s, c)
		}
	}
	return nil
}

// pathChar reports the characters CheckResource allows in a path:
// unreserved, sub-delimiters but braces, ":", "@" and "/". Not "%": the
// router matches decoded paths, so a well-known location with an escape
// in it would never be found.
func pathChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// metadataSuffix is the path RFC 9728 §3.1 inserts after the well-known
// prefix for resource: its path, "" for none or "/".
func metadataSuffix(resource string) string {
	u, err := url.Parse(resource)
	if err != nil || u.EscapedPath() == "/" {
		return ""
	}
	return u.EscapedPath()
}

// metadata serves the protected resource metadata and names its URL in
// challenges.
type metadata struct {
	suffix   string // metadataSuffix of the resource identifier
	htu      func(*http.Request) string
	document protectedResource
	// static is the document, encoded once, when it does not depend on
	// the request.
	static []byte
}

// protectedResource is the metadata document (RFC 9728 §2; RFC 9449 §5.1
// for the DPoP members).
type protectedResource struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
	DPoPSigningAlgs        []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundRequired      bool     `json:"dpop_bound_access_tokens_required"`
	CertificateBound       bool     `json:"tls_client_certificate_bound_access_tokens"`
}

// newMetadata builds the metadata of the API whose route table is table,
// with DPoP as auth accepts it.
func newMetadata(cfg ResourceMetadata, table []route, auth *app.Auth, htu func(*http.Request) string) *metadata {
	m := &metadata{suffix: metadataSuffix(cfg.Resource), htu: htu}
	d := protectedResource{
		Resource:               cfg.Resource,
		ScopesSupported:        scopesOf(table),
		BearerMethodsSupported: []string{"header"}, // never the query or the body (RFC 6750 §2.2, 2.3)
		ResourceName:           cfg.Name,
		ResourceDocumentation:  cfg.Documentation,
		CertificateBound:       cfg.CertificateBound,
	}
	if d.ScopesSupported == nil {
		d.ScopesSupported = []string{}
	}
	for _, as := range cfg.AuthorizationServers {
		d.AuthorizationServers = append(d.AuthorizationServers, as.Issuer)
	}
	if auth != nil && auth.DPoPMode() != app.DPoPDisabled {
		d.DPoPSigningAlgs = slices.Clone(auth.ProofAlgorithms())
		d.DPoPBoundRequired = auth.DPoPMode() == app.DPoPRequired
	}
	m.document = d
	if cfg.Resource != "" {
		m.static = mustJSON(d)
	}
	return m
}

// base is the URL the API is reached at for r, without a path of its own:
// r's URL as htu rebuilds it (PUBLIC_URL, or the scheme and Host) with
// r's path cut off; "" when there is none (no Host).
func (m *metadata) base(r *http.Request) string {
	u := m.htu(r)
	if base, ok := strings.CutSuffix(u, r.URL.EscapedPath()); ok {
		return base
	}
	// htu normalised the path (dot segments, escapes): keep the origin.
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// url is where a client that called r finds the metadata: the well-known
// location of the resource identifier under the URL r was addressed to.
// "" when r's URL cannot be rebuilt.
func (m *metadata) url(r *http.Request) string {
	base := m.base(r)
	if base == "" {
		return ""
	}
	return base + metadataPath + m.suffix
}

// handle answers the metadata document. Anyone may read it, from any
// origin: it holds nothing that the API's answers do not tell.
func (m *metadata) handle() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.static != nil {
			publicDocument(w)
			writeJSON(w, http.StatusOK, m.static)
			return
		}
		d := m.document
		d.Resource = m.base(r)
		if d.Resource == "" { // not cached: another request may have its host
			writeError(w, r, &bodyError{http.StatusBadRequest, "invalid_request", "the request names no host (Host header)"})
			return
		}
		publicDocument(w)
		w.Header()["Vary"] = varyHost
		encode(w, http.StatusOK, d)
	})
}

var (
	publicCache = []string{"public, max-age=3600"}
	anyOrigin   = []string{"*"}
	varyHost    = []string{"Origin, Host"}
)

// publicDocument sets the headers of a document about the API (its
// metadata, its OpenAPI description): cacheable, and readable from any
// origin when CORS has not allowed the request's already.
func publicDocument(w http.ResponseWriter) {
	h := w.Header()
	h["Cache-Control"] = publicCache
	if _, set := h["Access-Control-Allow-Origin"]; !set {
		h["Access-Control-Allow-Origin"] = anyOrigin
	}
}

// scopesOf lists every scope some route of table names, once each, in
// the table's order.
func scopesOf(table []route) []string {
	var out []string
	for _, rt := range table {
		for _, set := range rt.scopeSets() {
			for _, sc := range set {
				if !slices.Contains(out, sc) {
					out = append(out, sc)
				}
			}
		}
	}
	return out
}
