package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/ports"
)

const (
	spaIndex   = "<!doctype html><html><head><script type=\"module\" src=\"/assets/index-CUFz-0td.js\"></script></head><body><div id=\"root\"></div></body></html>\n"
	spaJS      = "console.log('the app');\n"
	spaSecret  = "SECRET OUTSIDE THE SPA DIRECTORY"
	spaIssuer  = "https://tenant.example.auth0.com/"
	spaWantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; manifest-src 'self'; " +
		"connect-src 'self' https://tenant.example.auth0.com; frame-src https://tenant.example.auth0.com; form-action 'self'; " +
		"frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

var spaSettings = httpapi.SPASettings{Issuer: spaIssuer, ClientID: "spa-client", Audience: "https://api.example", DPoP: true}

// spaDir builds a Vite-like dist directory, beside a secret file outside
// it, and returns the directory.
func spaDir(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	dir := filepath.Join(top, "dist")
	files := map[string]string{
		"index.html":                      spaIndex,
		"assets/index-CUFz-0td.js":        spaJS,
		"assets/index-C-NXFE7E.css":       "body{}\n",
		"assets/logo.svg":                 "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
		"assets/vendor-Ab12Cd34.js":       "identity bytes",
		"assets/vendor-Ab12Cd34.js.br":    "brotli bytes",
		"assets/vendor-Ab12Cd34.js.gz":    "gzip bytes",
		"robots.txt":                      "User-agent: *\n",
		"sub/page.txt":                    "in a folder\n",
		".env":                            "VITE_SECRET=dotfile\n",
		"sub/.hidden":                     "hidden\n",
		"data.unknownext":                 "bytes",
		"assets/nested/chunk-Zz99Yy88.js": "nested chunk",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(top, "secret.txt"), []byte(spaSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"link-out.txt":      filepath.Join(top, "secret.txt"), // absolute, outside
		"sub/rel-out.txt":   "../../secret.txt",               // relative, outside
		"dir-out":           top,                              // a folder outside
		"link-in.html":      "index.html",                     // inside: fine
		"assets/link-in.js": "index-CUFz-0td.js",              // inside: fine
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type spaFixture struct {
	handler http.Handler
	logs    *lockedBuffer
}

func newSPAFixture(t *testing.T, cfg httpapi.Config) *spaFixture {
	t.Helper()
	spa, err := httpapi.OpenSPA(spaDir(t), spaSettings)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spa.Close() })
	cfg.SPA = spa
	return newRouterWith(t, cfg)
}

func newRouterWith(t *testing.T, cfg httpapi.Config) *spaFixture {
	t.Helper()
	v := fake.New()
	store := fake.NewMessages()
	proofs, replay := newProofs(t, nil)
	logs := &lockedBuffer{}
	metrics, err := httpapi.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.NewRouter(cfg, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, nil),
		Health:   app.NewHealth(v, ports.Stores{Database: store, Messages: store}, replay),
		Messages: app.NewMessages(store, fixtureQuota),
	}, slog.New(slog.NewJSONHandler(logs, nil)), metrics)
	return &spaFixture{handler: h, logs: logs}
}

func (f *spaFixture) do(method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

// A browser's Accept when it navigates, and a script's.
var (
	browser = http.Header{"Accept": {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}}
	script  = http.Header{"Accept": {"*/*"}}
)

func TestSPAFiles(t *testing.T) {
	f := newSPAFixture(t, httpapi.Config{})
	for _, tc := range []struct {
		name, target string
		header       http.Header
		ctype, cache string
		body         string
		document     bool // HTML: with the CSP and its companions
	}{
		{"the root", "/", browser, "text/html; charset=utf-8", "no-cache", spaIndex, true},
		{"the root, by a script", "/", script, "text/html; charset=utf-8", "no-cache", spaIndex, true},
		{"index.html by name", "/index.html", script, "text/html; charset=utf-8", "no-cache", spaIndex, true},
		{"a deep link", "/some/client/route", browser, "text/html; charset=utf-8", "no-cache", spaIndex, true},
		{"a deep link with a query", "/messages?page=2", browser, "text/html; charset=utf-8", "no-cache", spaIndex, true},
		{"a folder, navigated to", "/sub", browser, "text/html; charset=utf-8", "no-cache", spaIndex, true},
		{"a hashed asset", "/assets/index-CUFz-0td.js", script, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", spaJS, false},
		{"a hashed asset with a dash in its hash", "/assets/index-C-NXFE7E.css", script, "text/css; charset=utf-8", "public, max-age=31536000, immutable", "body{}\n", false},
		{"a nested hashed asset", "/assets/nested/chunk-Zz99Yy88.js", script, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "nested chunk", false},
		{"an asset without a hash", "/assets/logo.svg", script, "image/svg+xml", "no-cache", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n", false},
		{"a file at the top", "/robots.txt", script, "text/plain; charset=utf-8", "no-cache", "User-agent: *\n", false},
		{"a file in a folder", "/sub/page.txt", script, "text/plain; charset=utf-8", "no-cache", "in a folder\n", false},
		{"an unknown extension", "/data.unknownext", script, "application/octet-stream", "no-cache", "bytes", false},
		{"a symbolic link inside", "/link-in.html", script, "text/html; charset=utf-8", "no-cache", spaIndex, true},
		{"a symbolic link inside, to a hashed asset", "/assets/link-in.js", script, "text/javascript; charset=utf-8", "no-cache", spaJS, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do("GET", tc.target, tc.header)
			h := rec.Header()
			if rec.Code != 200 || rec.Body.String() != tc.body {
				t.Fatalf("got %d %q, want 200 %q", rec.Code, rec.Body, tc.body)
			}
			for k, want := range map[string]string{
				"Content-Type": tc.ctype, "Cache-Control": tc.cache, "X-Content-Type-Options": "nosniff",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if h.Get("Etag") == "" || h.Get("Last-Modified") == "" {
				t.Errorf("ETag %q, Last-Modified %q: want both", h.Get("Etag"), h.Get("Last-Modified"))
			}
			docHeaders := map[string]string{"Content-Security-Policy": spaWantCSP, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
			for k, want := range docHeaders {
				if !tc.document {
					want = ""
				}
				if got := h.Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
		})
	}
	if !strings.Contains(f.logs.String(), `"route":"spa"`) {
		t.Errorf("the log names no route spa:\n%s", f.logs)
	}
}

// HEAD, revalidation (If-None-Match, If-Modified-Since) and ranges work
// as for any file server.
func TestSPAConditionalRequests(t *testing.T) {
	f := newSPAFixture(t, httpapi.Config{})
	first := f.do("GET", "/", browser)
	etag, modified := first.Header().Get("Etag"), first.Header().Get("Last-Modified")

	head := f.do("HEAD", "/some/route", browser)
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Etag") != etag ||
		head.Header().Get("Content-Security-Policy") != spaWantCSP || head.Header().Get("Content-Length") != strconv.Itoa(len(spaIndex)) {
		t.Errorf("HEAD of a deep link: got %d, %d bytes, headers %v", head.Code, head.Body.Len(), head.Header())
	}
	if rec := f.do("GET", "/", http.Header{"If-None-Match": {etag}}); rec.Code != 304 || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match with the ETag: got %d %q, want 304", rec.Code, rec.Body)
	}
	if rec := f.do("GET", "/", http.Header{"If-None-Match": {`"other"`}}); rec.Code != 200 {
		t.Errorf("If-None-Match with another ETag: got %d, want 200", rec.Code)
	}
	if rec := f.do("GET", "/assets/index-CUFz-0td.js", http.Header{"If-Modified-Since": {modified}}); rec.Code != 304 {
		t.Errorf("If-Modified-Since: got %d, want 304", rec.Code)
	}
	if rec := f.do("GET", "/assets/index-CUFz-0td.js", http.Header{"Range": {"bytes=0-6"}}); rec.Code != 206 || rec.Body.String() != "console" {
		t.Errorf("a range: got %d %q, want 206 \"console\"", rec.Code, rec.Body)
	}
}

// The SPA never answers for the API's paths, the probes or well-known
// URIs, nor for a script asking for a page, nor for a missing file with an
// extension, nor for other methods: those get the API's JSON 404 (or its
// 405) as without the SPA.
func TestSPADoesNotShadowTheAPI(t *testing.T) {
	f := newSPAFixture(t, httpapi.Config{})
	for _, tc := range []struct {
		method, target string
		header         http.Header
		status         int
	}{
		{"GET", "/api", browser, 404},
		{"GET", "/api/", browser, 404},
		{"GET", "/api/nope", browser, 404},
		{"GET", "/api/messages/x", browser, 405},
		{"GET", "/.well-known/openid-configuration", browser, 404},
		{"GET", "/.well-known", browser, 404},
		{"GET", "/some/client/route", script, 404},
		{"GET", "/some/client/route", http.Header{"Accept": {"application/json"}}, 404},
		{"GET", "/some/client/route", http.Header{"Accept": {"text/html;q=0"}}, 404},
		{"GET", "/some/client/route", nil, 404},
		{"GET", "/missing.js", browser, 404},
		{"GET", "/assets/missing-AbCdEf12.js", browser, 404},
		{"POST", "/some/client/route", browser, 404},
		{"DELETE", "/", browser, 404},
		{"PUT", "/index.html", browser, 404},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			rec := f.do(tc.method, tc.target, tc.header)
			if rec.Code != tc.status {
				t.Fatalf("got %d %q, want %d", rec.Code, rec.Body, tc.status)
			}
			body := decodeError(t, rec)
			if want := map[int]string{404: "not_found", 405: "method_not_allowed"}[tc.status]; body.Error != want {
				t.Errorf("error: got %q, want %q", body.Error, want)
			}
			if rec.Header().Get("Content-Security-Policy") != "" {
				t.Errorf("a JSON answer with the SPA's CSP")
			}
		})
	}
	for _, target := range []string{"/healthz", "/api/public"} {
		if rec := f.do("GET", target, browser); rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: got %d %s, want the API's JSON 200", target, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	if rec := f.do("GET", "/api/private", browser); rec.Code != 401 {
		t.Errorf("GET /api/private without a token: got %d, want 401", rec.Code)
	}
}

// No request reads a file outside the directory or lists a folder:
// "..", encoded or not, absolute paths, backslashes, symbolic links that
// lead outside, dot files. Each answer is the JSON 404 or index.html
// (for a page-like path a browser asks for), after at most the redirects
// gorilla/mux makes to clean a path; never the secret beside the
// directory, a listing, or the dot file.
func TestSPAStaysInItsDirectory(t *testing.T) {
	f := newSPAFixture(t, httpapi.Config{})
	for _, target := range []string{
		"/../secret.txt",
		"/../../../../../../etc/passwd",
		"/%2e%2e/secret.txt",
		"/%2E%2E/%2e%2e/secret.txt",
		"/assets/..%2f..%2fsecret.txt",
		"/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
		"/sub/../../secret.txt",
		"/..%5csecret.txt",
		"/..\\secret.txt",
		"//etc/passwd",
		"/etc/passwd",
		"/" + strings.TrimPrefix(filepath.Join(os.TempDir(), "x"), "/"),
		"/link-out.txt",
		"/sub/rel-out.txt",
		"/dir-out/secret.txt",
		"/dir-out",
		"/dir-out/",
		"/.env",
		"/sub/.hidden",
		"/sub/",
		"/assets/",
		"/assets",
		"/sub/page.txt%00.html",
		"/index.html/",
	} {
		for _, accept := range []http.Header{browser, script} {
			rec := f.do("GET", target, accept)
			for hops := 0; rec.Code == http.StatusMovedPermanently && hops < 3; hops++ {
				rec = f.do("GET", rec.Header().Get("Location"), accept)
			}
			body := rec.Body.String()
			switch {
			case strings.Contains(body, spaSecret), strings.Contains(body, "VITE_SECRET"), strings.Contains(body, "hidden\n"),
				strings.Contains(body, "page.txt"), strings.Contains(body, "<a href"):
				t.Errorf("GET %s (Accept %s): leaked: %d %q", target, accept.Get("Accept"), rec.Code, body)
			case rec.Code == 200 && body != spaIndex:
				t.Errorf("GET %s (Accept %s): got 200 %q, want index.html or a 404", target, accept.Get("Accept"), body)
			case rec.Code == 200 && accept.Get("Accept") == "*/*":
				t.Errorf("GET %s by a script: got index.html, want a 404", target)
			case rec.Code != 200 && rec.Code != 404:
				t.Errorf("GET %s (Accept %s): got %d %q", target, accept.Get("Accept"), rec.Code, body)
			case rec.Code == 404:
				decodeError(t, rec)
			}
		}
	}
}

// Precompressed variants beside a file are served to clients that take
// them, best first, with their own ETag; the answer varies by
// Accept-Encoding (beside Origin, from the CORS middleware).
func TestSPAPrecompressed(t *testing.T) {
	f := newSPAFixture(t, httpapi.Config{AllowedOrigins: []string{spa}})
	const target = "/assets/vendor-Ab12Cd34.js"
	etags := map[string]bool{}
	for _, tc := range []struct{ accept, encoding, body string }{
		{"gzip, deflate, br, zstd", "br", "brotli bytes"},
		{"gzip", "gzip", "gzip bytes"},
		{"br;q=0, gzip", "gzip", "gzip bytes"},
		{"BR", "br", "brotli bytes"},
		{"br;q=0.0, gzip;q=0", "", "identity bytes"},
		{"", "", "identity bytes"},
		{"identity", "", "identity bytes"},
	} {
		rec := f.do("GET", target, http.Header{"Accept-Encoding": {tc.accept}, "Origin": {spa}})
		h := rec.Header()
		if rec.Code != 200 || rec.Body.String() != tc.body || h.Get("Content-Encoding") != tc.encoding {
			t.Errorf("Accept-Encoding %q: got %d %q encoding %q, want %q encoding %q", tc.accept, rec.Code, rec.Body, h.Get("Content-Encoding"), tc.body, tc.encoding)
		}
		if got := strings.Join(h.Values("Vary"), ", "); got != "Origin, Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q, want \"Origin, Accept-Encoding\"", tc.accept, got)
		}
		if h.Get("Content-Type") != "text/javascript; charset=utf-8" || h.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("Accept-Encoding %q: Content-Type %q, Cache-Control %q", tc.accept, h.Get("Content-Type"), h.Get("Cache-Control"))
		}
		etags[tc.encoding+" "+h.Get("Etag")] = true
	}
	if len(etags) != 3 {
		t.Errorf("ETags by encoding: %v, want one for each of br, gzip and identity", etags)
	}
	// A file without variants does not vary by encoding.
	rec := f.do("GET", "/assets/index-CUFz-0td.js", http.Header{"Accept-Encoding": {"br"}, "Origin": {spa}})
	if got := strings.Join(rec.Header().Values("Vary"), ", "); got != "Origin" || rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("a file without variants: Vary %q, Content-Encoding %q", got, rec.Header().Get("Content-Encoding"))
	}
}

// /config.json holds the settings and the URL the request was addressed
// to, as the URL policy rebuilds it, and is not stored by caches.
func TestSPAConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		htu    func(*http.Request) string
		host   string
		apiURL string
	}{
		{"the request's own URL", nil, "api.example.com:8443", "http://api.example.com:8443"},
		{"a public URL", func(r *http.Request) string { return "https://example.com/backend" + r.URL.Path }, "10.0.0.7:8080", "https://example.com/backend"},
		{"no URL for the request", func(*http.Request) string { return "" }, "x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSPAFixture(t, httpapi.Config{HTU: tc.htu})
			req := httptest.NewRequest("GET", "/config.json", nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %v %q", rec.Code, rec.Header(), rec.Body)
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"issuer": spaIssuer, "clientId": "spa-client", "audience": "https://api.example", "dpop": true, "apiUrl": tc.apiURL}
			if len(got) != len(want) {
				t.Errorf("got %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: got %v, want %v", k, got[k], v)
				}
			}
		})
	}
	f := newSPAFixture(t, httpapi.Config{})
	if rec := f.do("POST", "/config.json", nil); rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /config.json: got %d Allow %q, want 405 GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
}

// Without an SPA the API answers as it always has: JSON 404s for /,
// /config.json and page-like paths.
func TestNoSPA(t *testing.T) {
	f := newRouterWith(t, httpapi.Config{})
	for _, target := range []string{"/", "/config.json", "/index.html", "/some/route"} {
		rec := f.do("GET", target, browser)
		if rec.Code != 404 {
			t.Errorf("GET %s: got %d, want 404", target, rec.Code)
			continue
		}
		decodeError(t, rec)
	}
}

// OpenSPA refuses a directory that is not a built SPA, and settings it
// cannot serve, each with a message saying what is wrong.
func TestOpenSPARefusals(t *testing.T) {
	top := t.TempDir()
	empty := filepath.Join(top, "empty")
	os.Mkdir(empty, 0o755)
	indexDir := filepath.Join(top, "indexdir")
	os.MkdirAll(filepath.Join(indexDir, "index.html"), 0o755)
	file := filepath.Join(top, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	good := spaDir(t)
	for _, tc := range []struct {
		name, dir string
		settings  httpapi.SPASettings
		want      string
	}{
		{"no directory", "", spaSettings, "no directory given"},
		{"a missing directory", filepath.Join(top, "missing"), spaSettings, filepath.Join(top, "missing") + ": no such directory (build the SPA into it, e.g. cd web && npm run build, for web/dist)"},
		{"a file", file, spaSettings, file + " is not a directory"},
		{"an empty directory", empty, spaSettings, empty + " has no index.html: is it a built SPA? (e.g. cd web && npm run build, for web/dist)"},
		{"index.html a folder", indexDir, spaSettings, indexDir + " has no index.html: is it a built SPA? (e.g. cd web && npm run build, for web/dist)"},
		{"no issuer", good, httpapi.SPASettings{ClientID: "c", Audience: "a"}, `issuer: "" is not an http(s) URL like https://TENANT.auth0.com/`},
		{"an issuer without a scheme", good, httpapi.SPASettings{Issuer: "tenant.auth0.com", ClientID: "c", Audience: "a"}, `issuer: "tenant.auth0.com" is not an http(s) URL like https://TENANT.auth0.com/`},
		{"an issuer that would break the CSP", good, httpapi.SPASettings{Issuer: "https://a.example;script-src *", ClientID: "c", Audience: "a"}, "is not an http(s) URL"},
		{"no client ID", good, httpapi.SPASettings{Issuer: spaIssuer, Audience: "a"}, "the SPA needs a client ID and an audience"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spa, err := httpapi.OpenSPA(tc.dir, tc.settings)
			if err == nil {
				spa.Close()
				t.Fatalf("got no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want %q", err, tc.want)
			}
		})
	}
}

// A file that changes is served as it is now, with a new ETag: the
// directory is read on each request (a new build needs no restart).
func TestSPAServesTheDirectoryAsItIs(t *testing.T) {
	dir := spaDir(t)
	spa, err := httpapi.OpenSPA(dir, spaSettings)
	if err != nil {
		t.Fatal(err)
	}
	defer spa.Close()
	f := newRouterWith(t, httpapi.Config{SPA: spa})
	before := f.do("GET", "/", nil)
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("new build"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(filepath.Join(dir, "index.html"), later, later)
	after := f.do("GET", "/", nil)
	body, _ := io.ReadAll(after.Body)
	if string(body) != "new build" || after.Header().Get("Etag") == before.Header().Get("Etag") {
		t.Errorf("after a new build: got %q with ETag %s (before: %s)", body, after.Header().Get("Etag"), before.Header().Get("Etag"))
	}
}
