package dpop_test

import (
	"crypto/tls"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/dpop"
)

func TestURLPolicyHTU(t *testing.T) {
	direct, err := dpop.NewURLPolicy("", nil)
	if err != nil {
		t.Fatal(err)
	}
	public, err := dpop.NewURLPolicy("https://API.example.com:443", nil)
	if err != nil {
		t.Fatal(err)
	}
	based, err := dpop.NewURLPolicy("https://example.com/backend/", nil)
	if err != nil {
		t.Fatal(err)
	}
	proxied, err := dpop.NewURLPolicy("", []string{"10.0.0.0/8", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	publicAndProxies, err := dpop.NewURLPolicy("https://api.example.com", []string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}

	type req struct {
		target, host, remote string
		tls                  bool
		headers              map[string][]string
	}
	for _, tc := range []struct {
		name   string
		policy *dpop.URLPolicy
		r      req
		want   string
	}{
		{"direct, plain", direct, req{target: "/api/private?x=1", host: "localhost:8080"}, "http://localhost:8080/api/private"},
		{"direct, TLS, default port dropped", direct, req{target: "/api/private", host: "API.example.com:443", tls: true}, "https://api.example.com/api/private"},
		{"direct ignores forwarded headers", direct, req{target: "/api/private", host: "localhost:8080", remote: "127.0.0.1:5000",
			headers: map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}}}, "http://localhost:8080/api/private"},
		{"direct, escaped path kept", direct, req{target: "/api/a%2Fb", host: "localhost:8080"}, "http://localhost:8080/api/a%2Fb"},
		{"public URL wins over Host and forwarded headers", public, req{target: "/api/private", host: "10.1.2.3:8080",
			headers: map[string][]string{"X-Forwarded-Host": {"evil.example"}}}, "https://api.example.com/api/private"},
		{"public URL with a base path", based, req{target: "/api/private", host: "10.1.2.3:8080"}, "https://example.com/backend/api/private"},
		{"public URL wins over a trusted proxy's forwarded headers", publicAndProxies, req{target: "/api/private", host: "10.1.2.3:8080", remote: "10.9.9.9:4000",
			headers: map[string][]string{"X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"other.example"}}}, "https://api.example.com/api/private"},
		{"trusted proxy: forwarded proto and host", proxied, req{target: "/api/private", host: "10.1.2.3:8080", remote: "10.9.9.9:4000",
			headers: map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"api.example.com"}}}, "https://api.example.com/api/private"},
		{"trusted proxy over IPv6 loopback", proxied, req{target: "/x", host: "h", remote: "[::1]:4000",
			headers: map[string][]string{"X-Forwarded-Proto": {"HTTPS"}, "X-Forwarded-Host": {"API.example.com:443"}}}, "https://api.example.com/x"},
		{"trusted proxy: the last value, the nearest proxy's", proxied, req{target: "/x", host: "h", remote: "127.0.0.1:4000",
			headers: map[string][]string{"X-Forwarded-Proto": {"http, https"}, "X-Forwarded-Host": {"evil.example", "api.example.com"}}}, "https://api.example.com/x"},
		{"untrusted peer: forwarded headers ignored", proxied, req{target: "/x", host: "internal:8080", remote: "192.0.2.7:4000",
			headers: map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}}}, "http://internal:8080/x"},
		{"trusted proxy, bad forwarded proto", proxied, req{target: "/x", host: "h", remote: "10.0.0.1:1",
			headers: map[string][]string{"X-Forwarded-Proto": {"gopher"}}}, ""},
		{"trusted proxy, forwarded host with a path", proxied, req{target: "/x", host: "h", remote: "10.0.0.1:1",
			headers: map[string][]string{"X-Forwarded-Host": {"evil.example/x"}}}, ""},
		{"no host", direct, req{target: "/x", host: ""}, ""},
		{"host with user information", direct, req{target: "/x", host: "a@b"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://placeholder"+tc.r.target, nil)
			r.Host = tc.r.host
			if tc.r.remote != "" {
				r.RemoteAddr = tc.r.remote
			}
			r.TLS = nil
			if tc.r.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tc.r.headers {
				r.Header[k] = v
			}
			if got := tc.policy.HTU(r); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestURLPolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		public  string
		proxies []string
		want    string
	}{
		{"api.example.com", nil, "not an http(s) origin"},
		{"ftp://api.example.com", nil, "not an http(s) origin"},
		{"https://api.example.com/?q=1", nil, "not an http(s) origin"},
		{"https://api.example.com/#f", nil, "not an http(s) origin"},
		{"https://user@api.example.com", nil, "not an http(s) origin"},
		{"", []string{"10.0.0.0/33"}, "not an IP address or CIDR"},
		{"", []string{"proxy.internal"}, "not an IP address or CIDR"},
	} {
		_, err := dpop.NewURLPolicy(tc.public, tc.proxies)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewURLPolicy(%q, %q): got %v, want an error containing %q", tc.public, tc.proxies, err, tc.want)
		}
	}
}
