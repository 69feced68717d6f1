package httpapi

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// fileName alone (without gorilla/mux's cleaning in front) maps only clean
// paths inside the directory to names, and nothing with a dot part.
func TestFileName(t *testing.T) {
	for _, tc := range []struct {
		path, name string
		ok         bool
	}{
		{"/", "index.html", true},
		{"/index.html", "index.html", true},
		{"/assets/index-CUFz-0td.js", "assets/index-CUFz-0td.js", true},
		{"/a/b/c.txt", "a/b/c.txt", true},
		{"", "", false},
		{"index.html", "", false},
		{"/..", "", false},
		{"/../secret", "", false},
		{"/a/../index.html", "", false},
		{"/a/./b", "", false},
		{"//etc/passwd", "", false},
		{"/a//b", "", false},
		{"/a/", "", false},
		{"/.env", "", false},
		{"/a/.git/config", "", false},
		{"/..\\secret", "", false},
		{"/a\\b", "", false},
		{"/a\x00.html", "", false},
	} {
		name, ok := fileName(tc.path)
		if name != tc.name || ok != tc.ok {
			t.Errorf("fileName(%q): got %q, %v; want %q, %v", tc.path, name, ok, tc.name, tc.ok)
		}
	}
}

// The fallback handler on its own, given paths gorilla/mux would have
// cleaned, serves nothing outside the directory: a JSON 404 for these
// paths with a file extension, whatever the client accepts.
func TestFallbackWithoutMux(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "dist")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("index"), 0o644)
	os.WriteFile(filepath.Join(top, "secret.txt"), []byte("secret"), 0o644)
	spa, err := OpenSPA(dir, SPASettings{Issuer: "https://issuer.example/", ClientID: "c", Audience: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer spa.Close()
	h := spa.fallback(handleNotFound())
	for _, p := range []string{"/../secret.txt", "/./../secret.txt", "/x/../../secret.txt", "//../secret.txt"} {
		for _, accept := range []string{"*/*", "text/html"} {
			req := httptest.NewRequest("GET", "/", nil)
			req.URL.Path = p
			req.Header.Set("Accept", accept)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotFound || rec.Body.String() == "secret" {
				t.Errorf("GET %s (Accept %s): got %d %q, want the JSON 404", p, accept, rec.Code, rec.Body)
			}
		}
	}
}
