package httpapi

import (
	"net"
	"net/netip"
	"testing"
)

// A client is an IPv4 address or an IPv6 /64 (the least a host is
// given, so that one host cannot take a share per address); an IPv4
// address mapped into IPv6 is the IPv4 client; trusted proxies and
// addresses that are not IP count against no share.
func TestClientOf(t *testing.T) {
	l := &Listener{}
	l.LimitPerClient(4, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")})
	for _, tc := range []struct {
		addr string
		want string // "" for none
	}{
		{"192.0.2.7:4000", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:4000", "192.0.2.7/32"},
		{"[2001:db8:1:2:aaaa::1]:4000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:5000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:4000", "2001:db8:1:3::/64"},
		{"10.1.2.3:4000", ""},
		{"[2001:db8:ffff:1::1]:4000", ""},
	} {
		got, ok := l.clientOf(addrOf(t, tc.addr))
		if tc.want == "" {
			if ok {
				t.Errorf("%s: got client %s, want none (trusted proxy)", tc.addr, got)
			}
			continue
		}
		if !ok || got != netip.MustParsePrefix(tc.want) {
			t.Errorf("%s: got %s %v, want %s", tc.addr, got, ok, tc.want)
		}
	}
	if _, ok := l.clientOf(&net.UnixAddr{Name: "/tmp/api.sock", Net: "unix"}); ok {
		t.Error("a unix socket peer: got a client, want none")
	}
}

func addrOf(t *testing.T, s string) net.Addr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
