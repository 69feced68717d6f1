package dpop

import "testing"

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.example.com/api/private", "https://api.example.com/api/private"},
		{"HTTPS://API.EXAMPLE.COM/api/private", "https://api.example.com/api/private"},
		{"https://api.example.com:443/x", "https://api.example.com/x"},
		{"http://api.example.com:80/x", "http://api.example.com/x"},
		{"https://api.example.com:80/x", "https://api.example.com:80/x"},
		{"http://api.example.com:443/x", "http://api.example.com:443/x"},
		{"https://api.example.com:0443/x", "https://api.example.com/x"},
		{"https://api.example.com:08443/x", "https://api.example.com:8443/x"},
		{"https://api.example.com:/x", "https://api.example.com/x"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com?q", "https://api.example.com/"},
		{"https://api.example.com/x?a=b#c", "https://api.example.com/x"},
		{"https://api.example.com/x#c?d", "https://api.example.com/x"},
		{"https://api.example.com/%7euser/%7E", "https://api.example.com/~user/~"},
		{"https://api.example.com/a%2fb", "https://api.example.com/a%2Fb"},
		{"https://api.example.com/a%2Fb", "https://api.example.com/a%2Fb"},
		{"https://api.example.com/caf\u00e9", "https://api.example.com/caf%C3%A9"},
		{"https://api.example.com/a b", "https://api.example.com/a%20b"},
		{"https://api.example.com/a/./b/../c", "https://api.example.com/a/c"},
		{"https://api.example.com/a/%2E%2E/c", "https://api.example.com/c"},
		{"https://api.example.com/../../x", "https://api.example.com/x"},
		{"https://api.example.com/a/..", "https://api.example.com/"},
		{"https://api.example.com/a//b", "https://api.example.com/a//b"},
		{"https://api.example.com/a/", "https://api.example.com/a/"},
		{"http://[::1]:8080/x", "http://[::1]:8080/x"},
		{"http://[::1]:80/x", "http://[::1]/x"},
		{"http://[FE80::1]/x", "http://[fe80::1]/x"},
		{"http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api"},
	} {
		got, err := normalizeURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("normalizeURL(%q): got %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if again, err := normalizeURL(got); err != nil || again != got {
			t.Errorf("normalizeURL not idempotent on %q: got %q, %v", got, again, err)
		}
	}
	for _, bad := range []string{
		"", "/x", "api.example.com/x", "ftp://api.example.com/x", "https:///x", "https://user@api.example.com/x",
		"https://user:pw@api.example.com/x", "https://api.example.com:99999/x", "https://api.example.com:8o/x",
		"https://api.example.com:123456/x", "https://[::1/x", "https://[::1]x/", "https://a:b:c/x",
		"https://api.example.com/%zz", "https://api.example.com/%4", "https://ap%69.example.com/x",
		"https://api.example.com\\@evil.example/x", "https:// api.example.com/x",
	} {
		if got, err := normalizeURL(bad); err == nil {
			t.Errorf("normalizeURL(%q): got %q, want an error", bad, got)
		}
	}
}

// FuzzNormalizeURL: never panics, and the normal form is a fixed point.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"https://API.example.com:443/a/../%7e?q#f", "http://[::1]:80/x/./y", "https://a/%2f%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := normalizeURL(s)
		if err != nil {
			return
		}
		again, err := normalizeURL(n)
		if err != nil || again != n {
			t.Fatalf("normalizeURL(%q) = %q, and again %q, %v", s, n, again, err)
		}
	})
}
