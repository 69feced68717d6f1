package httpapi

import (
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// SPASettings are what the single-page app reads at run time, from
// /config.json: where its users log in and what it asks for there. One
// built SPA thus serves any environment. The API's own URL is not a
// setting: /config.json names the URL each request for it was addressed
// to (Config.HTU, so PUBLIC_URL and TRUSTED_PROXIES count), which is the
// origin the SPA was loaded from.
type SPASettings struct {
	// Issuer is the identity provider the SPA logs in at, e.g.
	// https://TENANT.auth0.com/ (what the Auth0 SDK calls its domain).
	Issuer string `json:"issuer"`
	// ClientID is the SPA's application at the identity provider.
	ClientID string `json:"clientId"`
	// Audience is the API identifier the SPA asks access tokens for.
	Audience string `json:"audience"`
	// DPoP has the SPA bind its tokens to a key it keeps (RFC 9449).
	DPoP bool `json:"dpop"`
}

// SPA serves a built single-page app (Vite's dist/) from a directory, as
// the fallback for the GETs no route of the API matches (NewRouter), and
// its settings at /config.json (routes). Files are read from the
// directory on each request, through an os.Root: no path, symbolic link
// or ".." leads outside it.
type SPA struct {
	dir      string
	root     *os.Root
	settings SPASettings
	// documentHeaders go on every HTML answer (index.html, the client
	// routes): the Content-Security-Policy and its companions.
	documentHeaders http.Header
}

// spaRoute labels the SPA's answers in the log line and the metrics, as a
// route template labels the API's.
const spaRoute = "spa"

// OpenSPA opens the built SPA in dir, which must hold an index.html, to be
// served with settings. Close releases the directory.
func OpenSPA(dir string, settings SPASettings) (*SPA, error) {
	if dir == "" {
		return nil, errors.New("no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: no such directory (build the SPA into it, e.g. cd web && npm run build, for web/dist)", abs)
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a directory", abs)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, err
	}
	if fi, err := root.Stat("index.html"); err != nil || !fi.Mode().IsRegular() {
		root.Close()
		return nil, fmt.Errorf("%s has no index.html: is it a built SPA? (e.g. cd web && npm run build, for web/dist)", abs)
	}
	issuer, err := spaOrigin(settings.Issuer)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if settings.ClientID == "" || settings.Audience == "" {
		root.Close()
		return nil, errors.New("the SPA needs a client ID and an audience")
	}
	return &SPA{dir: abs, root: root, settings: settings, documentHeaders: documentHeaders(issuer)}, nil
}

// Close releases the directory.
func (s *SPA) Close() error { return s.root.Close() }

// Dir is the directory served, absolute.
func (s *SPA) Dir() string { return s.dir }

// Settings are the settings /config.json names.
func (s *SPA) Settings() SPASettings { return s.settings }

// spaOrigin returns the origin (scheme://host[:port]) of an http(s) URL.
func spaOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.ContainsAny(u.Host, " ;,'\"") {
		return "", fmt.Errorf("%q is not an http(s) URL like https://TENANT.auth0.com/", s)
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// documentHeaders are the headers of the SPA's HTML answers.
//
// The Content-Security-Policy lets the page load scripts, styles, fonts
// and images from its own origin only (the Vite build has no inline
// script or style; the data: image is index.html's empty icon), call
// only its own origin (the API) and the issuer (the token endpoint), and
// frame only the issuer: the Auth0 SDK renews tokens without refresh
// tokens through a hidden iframe of the issuer's /authorize
// (prompt=none, response_mode=web_message). Nothing may frame the page
// itself, and there are no plugins, <base> or workers. A page that
// enables the SDK's refresh tokens (useRefreshTokens) needs worker-src
// blob: as well: the SDK then runs a Web Worker from a blob: URL.
func documentHeaders(issuer string) http.Header {
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"font-src 'self'",
		"manifest-src 'self'",
		"connect-src 'self' " + issuer,
		"frame-src " + issuer,
		"form-action 'self'",
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"object-src 'none'",
	}, "; ")
	return http.Header{
		"Content-Security-Policy": {csp},
		// The login's code and state are in the address for a moment after
		// the redirect back: no other site is told it.
		"Referrer-Policy": {"no-referrer"},
		"X-Frame-Options": {"DENY"}, // frame-ancestors, for older browsers
	}
}

// handleConfig answers /config.json: the settings, and the API's URL as
// htu rebuilds it for this request (the path cut off). It is read once per
// page load and its apiUrl follows the request's host, so it is not
// stored by caches.
func (s *SPA) handleConfig(htu func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api, ok := strings.CutSuffix(htu(r), r.URL.EscapedPath())
		if !ok {
			api = "" // no URL for this request: the SPA uses its own origin
		}
		w.Header()["Cache-Control"] = noStore
		encode(w, http.StatusOK, spaConfigAnswer{s.settings, api})
	})
}

// spaConfigAnswer is /config.json's answer.
type spaConfigAnswer struct {
	SPASettings
	APIURL string `json:"apiUrl"`
}

var (
	noCache   = []string{"no-cache"}
	immutable = []string{"public, max-age=31536000, immutable"}
	// varyEncoding is added to the Vary of a file with a precompressed
	// variant.
	varyEncoding = "Accept-Encoding"
)

// hashedAsset matches the files Vite names after their content
// (assets/index-CUFz-0td.js): a new build gives changed files new names,
// so a browser may keep these for a year without asking again.
var hashedAsset = regexp.MustCompile(`^assets/(.+/)?[^/]+-[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$`)

// fallback answers the GETs and HEADs no route matched, outside the API's
// own paths: a file of the SPA, or index.html for a client-side route
// (a browser asking for a page at a path without a file extension).
// Everything else goes to notFound, the API's JSON 404.
func (s *SPA) fallback(notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || apiOwned(r.URL.Path) {
			notFound.ServeHTTP(w, r)
			return
		}
		if name, ok := fileName(r.URL.Path); ok && s.serveFile(w, r, name) {
			return
		}
		if wantsPage(r) && !strings.Contains(path.Base(r.URL.Path), ".") && s.serveFile(w, r, "index.html") {
			return
		}
		notFound.ServeHTTP(w, r)
	})
}

// apiOwned reports paths the SPA never answers, file or not: the API's,
// the probes and the well-known URIs (RFC 8615).
func apiOwned(p string) bool {
	return p == "/api" || strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz" ||
		p == "/.well-known" || strings.HasPrefix(p, "/.well-known/")
}

// fileName maps a request path to a file name in the SPA's directory: "/"
// to index.html, "/assets/x.js" to assets/x.js. ok is false for a path
// that is not clean (".", "..", "//"; gorilla/mux redirects those before
// they get here, but this does not rely on it), names a directory (a
// trailing slash), has a part starting with a dot, or holds a backslash
// or NUL.
func fileName(p string) (name string, ok bool) {
	if p == "/" {
		return "index.html", true
	}
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsAny(p, "\\\x00") {
		return "", false
	}
	name = p[1:]
	if !fs.ValidPath(name) {
		return "", false
	}
	for part := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(part, ".") {
			return "", false
		}
	}
	return name, true
}

// wantsPage reports a request that accepts HTML: a browser navigating.
func wantsPage(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for item := range strings.SplitSeq(v, ",") {
			media, params, _ := strings.Cut(item, ";")
			if strings.EqualFold(strings.TrimSpace(media), "text/html") && !refused(params) {
				return true
			}
		}
	}
	return false
}

// refused reports media-range or coding parameters with q=0.
func refused(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "q") {
			v = strings.TrimSpace(v)
			return v == "0" || strings.Trim(v, "0") == "."
		}
	}
	return false
}

// acceptsEncoding reports whether r's Accept-Encoding names coding (and
// does not refuse it with q=0).
func acceptsEncoding(r *http.Request, coding string) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for item := range strings.SplitSeq(v, ",") {
			c, params, _ := strings.Cut(item, ";")
			if strings.EqualFold(strings.TrimSpace(c), coding) && !refused(params) {
				return true
			}
		}
	}
	return false
}

// precompressed are the variants of a file the SPA may have beside it
// (e.g. from vite-plugin-compression), best first.
var precompressed = []struct{ coding, ext string }{{"br", ".br"}, {"gzip", ".gz"}}

// serveFile answers with the SPA's file name if it is a regular file
// inside the directory, and reports whether it did.
func (s *SPA) serveFile(w http.ResponseWriter, r *http.Request, name string) bool {
	f, fi, ok := s.open(name)
	if !ok {
		return false
	}
	defer func() { f.Close() }()
	h := w.Header()
	infoFrom(w).route = spaRoute

	// A precompressed variant, if there is one and the client takes it.
	// Any variant makes the answer depend on Accept-Encoding.
	etagSuffix := ""
	varies := false
	for _, v := range precompressed {
		vf, vfi, ok := s.open(name + v.ext)
		if !ok {
			continue
		}
		varies = true
		if etagSuffix != "" || !acceptsEncoding(r, v.coding) {
			vf.Close()
			continue
		}
		f.Close()
		f, fi, etagSuffix = vf, vfi, "-"+v.coding
		h["Content-Encoding"] = []string{v.coding}
	}
	if varies {
		// Assigned whole: the CORS middleware's Vary slice is shared.
		h["Vary"] = append(slices.Clone(h["Vary"]), varyEncoding)
	}

	ctype := contentType(name)
	h["Content-Type"] = []string{ctype}
	h["X-Content-Type-Options"] = nosniff
	h["Etag"] = []string{fmt.Sprintf(`"%x-%x%s"`, fi.ModTime().UnixNano(), fi.Size(), etagSuffix)}
	if hashedAsset.MatchString(name) {
		h["Cache-Control"] = immutable
	} else {
		h["Cache-Control"] = noCache
	}
	if strings.HasPrefix(ctype, "text/html") {
		for k, v := range s.documentHeaders {
			h[k] = v
		}
	}
	http.ServeContent(w, r, name, fi.ModTime(), f)
	return true
}

// open opens a regular file of the SPA, inside its directory.
func (s *SPA) open(name string) (*os.File, fs.FileInfo, bool) {
	f, err := s.root.Open(name)
	if err != nil {
		return nil, nil, false // missing, unreadable, or leading outside
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, false
	}
	return f, fi, true
}

// contentTypes are the types of what a Vite build holds, fixed here rather
// than read from the system's MIME tables (an image from scratch has
// none); the rest come from Go's built-in table, else
// application/octet-stream (never sniffed: nosniff).
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/vnd.microsoft.icon",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".wasm":        "application/wasm",
	".txt":         "text/plain; charset=utf-8",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
