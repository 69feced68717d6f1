package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The address rules, with hostile headers.
func TestClientAddress(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.168.1.1", "fd00::/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		remote  string
		xff     []string
		forward string // Forwarded
		want    string
	}{
		{"IPv4 peer", "203.0.113.7:4000", nil, "", "203.0.113.7"},
		{"IPv6 peer: its /64", "[2001:db8:1:2:3:4:5:6]:4000", nil, "", "2001:db8:1:2::/64"},
		{"IPv6 peer with a zone", "[fe80::1%eth0]:4000", nil, "", "fe80::/64"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.7]:4000", nil, "", "203.0.113.7"},
		{"no port", "203.0.113.7", nil, "", ""},
		{"not an address", "@", nil, "", ""},
		{"untrusted peer: X-Forwarded-For ignored", "203.0.113.7:1", []string{"198.51.100.1"}, "", "203.0.113.7"},
		{"untrusted peer: Forwarded ignored", "203.0.113.7:1", nil, "for=198.51.100.1", "203.0.113.7"},
		{"untrusted IPv6 peer: X-Forwarded-For ignored", "[2001:db8::1]:1", []string{"198.51.100.1"}, "", "2001:db8::/64"},
		{"trusted peer, one item", "10.0.0.5:1", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"trusted peer, a spoofed item before it", "10.0.0.5:1", []string{"1.2.3.4, 198.51.100.1"}, "", "198.51.100.1"},
		{"trusted proxies skipped from the right", "10.0.0.5:1", []string{"1.2.3.4, 198.51.100.1, 10.1.1.1, 192.168.1.1"}, "", "198.51.100.1"},
		{"several fields, in order", "10.0.0.5:1", []string{"1.2.3.4", "198.51.100.1", "10.1.1.1"}, "", "198.51.100.1"},
		{"the last field wins over earlier ones", "10.0.0.5:1", []string{"198.51.100.1", "203.0.113.9"}, "", "203.0.113.9"},
		{"items with ports and brackets", "10.0.0.5:1", []string{"[2001:db8:aa:bb::1]:4711, 10.0.0.9:80"}, "", "2001:db8:aa:bb::/64"},
		{"bracketed IPv6 without a port", "[::1]:1", []string{"[2001:db8:aa:bb::1]"}, "", "2001:db8:aa:bb::/64"},
		{"IPv4 item with a port", "10.0.0.5:1", []string{"198.51.100.1:5555"}, "", "198.51.100.1"},
		{"mapped item", "10.0.0.5:1", []string{"::ffff:198.51.100.1"}, "", "198.51.100.1"},
		{"tabs and spaces", "10.0.0.5:1", []string{" \t198.51.100.1\t "}, "", "198.51.100.1"},
		{"trusted peer without the header: the proxy", "10.0.0.5:1", nil, "", "10.0.0.5"},
		{"trusted peer, only trusted items: the left-most", "10.0.0.5:1", []string{"10.3.3.3, 10.2.2.2"}, "", "10.3.3.3"},
		{"trusted peer, an empty header: the proxy", "10.0.0.5:1", []string{""}, "", "10.0.0.5"},
		{"garbage next to the proxy: the proxy", "10.0.0.5:1", []string{"198.51.100.1, unknown"}, "", "10.0.0.5"},
		{"garbage after a trusted hop: that hop", "10.0.0.5:1", []string{"198.51.100.1, _hidden, 10.7.7.7"}, "", "10.7.7.7"},
		{"garbage left of the client: ignored", "10.0.0.5:1", []string{"<script>, 198.51.100.1"}, "", "198.51.100.1"},
		{"an empty item next to the proxy", "10.0.0.5:1", []string{"198.51.100.1,"}, "", "10.0.0.5"},
		{"a zone in an item is dropped", "10.0.0.5:1", []string{"fe80::1%25eth0, 2001:db8::1%eth0"}, "", "2001:db8::/64"},
		{"a name, not an address", "10.0.0.5:1", []string{"client.example.com"}, "", "10.0.0.5"},
		{"Forwarded from a trusted peer is ignored", "10.0.0.5:1", []string{"198.51.100.1"}, "for=203.0.113.66", "198.51.100.1"},
		{"a long list of trusted hops", "10.0.0.5:1", []string{"198.51.100.1, " + strings.Repeat("10.0.0.1, ", 1000) + "10.0.0.2"}, "", "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tc.forward != "" {
				r.Header.Set("Forwarded", tc.forward)
			}
			if got := clientAddress(r, trusted); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// With no trusted proxies, nobody's headers count.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.5:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := clientAddress(r, nil); got != "10.0.0.5" {
		t.Fatalf("no trusted proxies: got %q, want the peer", got)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies([]string{"10.1.2.3/8", "::1", "192.0.2.1"})
	if err != nil || len(got) != 3 || got[0].String() != "10.0.0.0/8" || got[1].String() != "::1/128" || got[2].String() != "192.0.2.1/32" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"proxy.internal", "10.0.0.0/33", "", "fe80::1%eth0"} {
		if _, err := ParseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func BenchmarkClientAddress(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.7:40000"
	b.ReportAllocs()
	for b.Loop() {
		clientAddress(r, nil)
	}
}
