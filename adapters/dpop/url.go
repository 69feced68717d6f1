package dpop

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// URLPolicy rebuilds the URL a client addressed (the "htu" its proof must
// name) from the request the server received. By default that is the
// request's own scheme (TLS or not) and Host header: right when clients
// reach the API directly. Behind a reverse proxy the API sees the proxy's
// request, so one of:
//
//   - PublicURL (PUBLIC_URL), the external origin and optional base path,
//     e.g. "https://api.example.com" or "https://example.com/backend":
//     scheme, host and port come from it, the path is its path followed by
//     the request's. Forwarded headers are never read, even from trusted
//     proxies.
//   - TrustedProxies (TRUSTED_PROXIES): addresses of proxies whose
//     X-Forwarded-Proto and X-Forwarded-Host are believed, for requests
//     whose peer (RemoteAddr) is one of them. Of several values, the last
//     is used: the one the nearest proxy added. Requests from anyone else
//     are taken as they are.
//
// X-Forwarded-* is never trusted from anyone by default.
type URLPolicy struct {
	public         string // normalised, without a trailing "/"; "" for none
	trustedProxies []netip.Prefix
}

// NewURLPolicy returns the policy for publicURL ("" for none) and
// trustedProxies (IP addresses or CIDR prefixes). With both, the public URL
// wins and no forwarded header is read for the URL: TRUSTED_PROXIES then
// serves only the HTTP layer, which reads the client's address from those
// proxies' X-Forwarded-For.
func NewURLPolicy(publicURL string, trustedProxies []string) (*URLPolicy, error) {
	p := &URLPolicy{}
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
			return nil, fmt.Errorf("public URL %q is not an http(s) origin with an optional path, like https://api.example.com", publicURL)
		}
		norm, err := normalizeURL(publicURL)
		if err != nil {
			return nil, fmt.Errorf("public URL %q: %w", publicURL, err)
		}
		p.public = strings.TrimSuffix(norm, "/")
	}
	for _, s := range trustedProxies {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix like 10.0.0.0/8", s)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		p.trustedProxies = append(p.trustedProxies, pfx.Masked())
	}
	return p, nil
}

// HTU returns the normalised URL r was addressed to, without query and
// fragment: what a proof's "htu" is compared with. It returns "" when no
// URL can be rebuilt (no Host, a forwarded host that is not a host); the
// verifier then refuses every proof with dpop_wrong_url.
func (p *URLPolicy) HTU(r *http.Request) string {
	path := r.URL.EscapedPath()
	if p.public != "" {
		s, err := normalizeURL(p.public + ensureSlash(path))
		if err != nil {
			return ""
		}
		return s
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if p.trusted(r.RemoteAddr) {
		if v := lastValue(r.Header.Values("X-Forwarded-Proto")); v != "" {
			scheme = strings.ToLower(v)
			if scheme != "http" && scheme != "https" {
				return ""
			}
		}
		if v := lastValue(r.Header.Values("X-Forwarded-Host")); v != "" {
			host = v
		}
	}
	if host == "" || strings.ContainsAny(host, "/?#@\\ ") {
		return ""
	}
	s, err := normalizeURL(scheme + "://" + host + ensureSlash(path))
	if err != nil {
		return ""
	}
	return s
}

func ensureSlash(path string) string {
	if !strings.HasPrefix(path, "/") {
		return "/" + path
	}
	return path
}

// trusted reports whether remoteAddr ("ip:port") is a trusted proxy.
func (p *URLPolicy) trusted(remoteAddr string) bool {
	if len(p.trustedProxies) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, pfx := range p.trustedProxies {
		if pfx.Contains(addr) {
			return true
		}
	}
	return false
}

// lastValue returns the last comma-separated item of the header values.
func lastValue(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// normalizeURL returns the normal form of an http(s) URL for comparing
// "htu" (RFC 9449 §4.3 asks for RFC 3986 §6.2.2 syntax-based and §6.2.3
// scheme-based normalisation): scheme and host lower case, the default port
// (80, 443) and an empty port dropped, other ports without leading zeros,
// percent-encoding with upper-case hex, unreserved characters decoded and
// characters a path may not hold encoded, dot segments removed, an empty
// path as "/", query and fragment dropped. URLs with user information, other
// schemes, or bad percent-encoding are errors.
//
// normalizeURL(normalizeURL(s)) == normalizeURL(s).
func normalizeURL(s string) (string, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", errors.New("not an absolute URL")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("scheme is not http or https")
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	authority, path := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	host, err := normalizeAuthority(authority, scheme)
	if err != nil {
		return "", err
	}
	path, err = normalizePath(path)
	if err != nil {
		return "", err
	}
	return scheme + "://" + host + path, nil
}

// normalizeAuthority returns host[:port] lower case, without a default port.
func normalizeAuthority(a, scheme string) (string, error) {
	if strings.ContainsAny(a, "@\\ %") || a == "" {
		return "", errors.New("authority with user information, spaces or escapes")
	}
	host, port := a, ""
	if strings.HasPrefix(a, "[") { // IPv6 literal
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", errors.New("unterminated IPv6 literal")
		}
		host, port = a[:end+1], a[end+1:]
		if port != "" && port[0] != ':' {
			return "", errors.New("bad port")
		}
		port = strings.TrimPrefix(port, ":")
	} else if i := strings.LastIndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
	}
	if host == "" || host == "[]" || strings.ContainsAny(host, ":") && !strings.HasPrefix(host, "[") {
		return "", errors.New("bad host")
	}
	host = strings.ToLower(host)
	if port != "" {
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return "", errors.New("bad port")
			}
		}
		digits, n := strings.TrimLeft(port, "0"), 0
		if len(digits) > 5 {
			return "", errors.New("bad port")
		}
		if digits != "" {
			n, _ = strconv.Atoi(digits) // digits only, at most 5
		}
		if n > 65535 {
			return "", errors.New("bad port")
		}
		switch {
		case scheme == "http" && n == 80, scheme == "https" && n == 443:
			port = ""
		default:
			port = strconv.Itoa(n)
		}
	}
	if port == "" {
		return host, nil
	}
	return host + ":" + port, nil
}

// pathChar marks the characters a path may hold unencoded (RFC 3986 §3.3:
// unreserved, sub-delims, ":", "@", "/").
var pathChar = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/") {
		t[c] = true
	}
	return t
}()

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const upperHex = "0123456789ABCDEF"

func normalizePath(p string) (string, error) {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if i+2 >= len(p) {
				return "", errors.New("bad percent-encoding")
			}
			hi, ok1 := unhex(p[i+1])
			lo, ok2 := unhex(p[i+2])
			if !ok1 || !ok2 {
				return "", errors.New("bad percent-encoding")
			}
			if d := hi<<4 | lo; isUnreserved(d) {
				b.WriteByte(d)
			} else {
				b.WriteByte('%')
				b.WriteByte(upperHex[hi])
				b.WriteByte(upperHex[lo])
			}
			i += 2
		case pathChar[c]:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
	out := removeDotSegments(b.String())
	if out == "" {
		out = "/"
	}
	return out, nil
}

// removeDotSegments is RFC 3986 §5.2.4's algorithm.
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	var out []string // output segments, each starting with "/" (or the first, without)
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			start := 0
			if in[0] == '/' {
				start = 1
			}
			end := strings.IndexByte(in[start:], '/')
			if end < 0 {
				end = len(in)
			} else {
				end += start
			}
			out = append(out, in[:end])
			in = in[end:]
		}
	}
	return strings.Join(out, "")
}
