package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads the items of TRUSTED_PROXIES: IP addresses
// or CIDR prefixes (10.0.0.0/8, fd00::/8, 127.0.0.1).
func ParseTrustedProxies(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range items {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil || addr.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix like 10.0.0.0/8", s)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, pfx.Masked())
	}
	return out, nil
}

// forwardedFor is X-Forwarded-For in the canonical form net/http keys
// parsed headers by.
const forwardedFor = "X-Forwarded-For"

// clientAddress names the client that sent r, for the failed-credential
// limit: "" when it cannot tell (then the request is not limited).
//
// The client is the connection's peer (RemoteAddr), unless the peer is a
// trusted proxy: then it is the right-most address of X-Forwarded-For
// that is not a trusted proxy. Every X-Forwarded-For field counts, in
// order, as one comma-separated list, read from its end: each trusted
// proxy appends the address it got the request from, so the items from
// the right are written by trusted proxies until the first one that is
// not, the client, and whatever is left of it is what the client sent
// (ignored). An item may carry a port (192.0.2.1:4711, [2001:db8::1]:4711)
// or brackets. An item that is not an address (empty, "unknown", an
// obfuscated name) ends the search at the last trusted proxy reached,
// which is then the client; so do all the items being trusted proxies.
//
// Forwarded (RFC 7239) is never read: a proxy that writes only
// X-Forwarded-For passes a Forwarded header from the client on as it is,
// so believing both would let clients choose their address. Nor is
// X-Real-IP. From a peer that is not a trusted proxy no header is read.
//
// An IPv4 address (or an IPv4-mapped IPv6 one) is named as it is
// ("203.0.113.7"); an IPv6 address by its /64 ("2001:db8:1:2::/64"),
// since whoever has one address of a /64 usually has them all.
func clientAddress(r *http.Request, trusted []netip.Prefix) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return "" // not TCP/IP (a Unix socket, a test's made-up address)
	}
	peer := ap.Addr().Unmap().WithZone("")
	if !isTrusted(peer, trusted) {
		if ap.Addr().Is4() {
			// Already the address's canonical text: no allocation.
			return r.RemoteAddr[:strings.LastIndexByte(r.RemoteAddr, ':')]
		}
		return addressName(peer)
	}
	client := peer
	values := r.Header[forwardedFor]
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for {
			item := rest
			j := strings.LastIndexByte(rest, ',')
			if j >= 0 {
				item, rest = rest[j+1:], rest[:j]
			}
			addr, ok := forwardedAddr(strings.Trim(item, " \t"))
			if !ok {
				return addressName(client)
			}
			if !isTrusted(addr, trusted) {
				return addressName(addr)
			}
			client = addr
			if j < 0 {
				break
			}
		}
	}
	return addressName(client)
}

// forwardedAddr reads one X-Forwarded-For item: an IP address, with or
// without brackets and a port.
func forwardedAddr(item string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(item); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(item); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(item) > 2 && item[0] == '[' && item[len(item)-1] == ']' {
		if a, err := netip.ParseAddr(item[1 : len(item)-1]); err == nil && a.Is6() {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addressName is what a client address is limited by (clientPrefix),
// named: an IPv4 address itself, an IPv6 address's /64.
func addressName(a netip.Addr) string {
	p := clientPrefix(a)
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// clientPrefix is the block of addresses one client is taken to hold: an
// IPv4 address itself, an IPv6 address's /64, since whoever has one
// address of a /64 usually has them all.
func clientPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	return netip.PrefixFrom(a, 64).Masked()
}
