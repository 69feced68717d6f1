package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// ClientCertHeader is RFC 9440's Client-Cert, the header trusted proxies
// pass the client's certificate in by default.
const ClientCertHeader = "Client-Cert"

// clientCerts finds the client certificate a request came with, for
// certificate-bound tokens (RFC 8705): from the TLS handshake with this
// server, or, from a trusted proxy, in its Client-Cert header (RFC 9440).
type clientCerts struct {
	proxies []netip.Prefix
	header  string // canonical: Client-Cert, or Config.ClientCertHeader
	// counts of Client-Cert headers by what was made of them
	used, ignored, malformed prometheus.Counter
}

// thumbprint returns the x5t#S256 (RFC 8705 §3.1: base64url of the
// SHA-256 of the DER) of the client certificate r came with, "" for none.
//
// From a peer in TRUSTED_PROXIES the certificate is the one in
// Client-Cert, the proxy's own TLS client certificate (if any) being the
// proxy's, not the client's; without that header the request came with no
// certificate. A Client-Cert from anyone else is ignored and counted: a
// client could write any certificate there. A malformed one from a proxy
// (several fields, not a byte sequence) counts as no certificate.
func (cc *clientCerts) thumbprint(r *http.Request) string {
	values := r.Header[cc.header]
	if len(cc.proxies) > 0 && (len(values) > 0 || r.TLS != nil) && fromTrustedProxy(r, cc.proxies) {
		if len(values) == 0 {
			return ""
		}
		der, ok := parseCertificateField(values)
		if !ok {
			cc.malformed.Inc()
			return ""
		}
		cc.used.Inc()
		return x5tS256(der)
	}
	if len(values) > 0 {
		cc.ignored.Inc()
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return x5tS256(r.TLS.PeerCertificates[0].Raw)
	}
	return ""
}

// fromTrustedProxy reports whether r's peer is one of proxies.
func fromTrustedProxy(r *http.Request, proxies []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && isTrusted(ap.Addr().Unmap().WithZone(""), proxies)
}

// parseCertificateField reads the one field of a proxy's certificate
// header as the DER of a certificate, in either of two forms:
//
//   - a Structured Field Item whose value is a byte sequence (RFC 8941
//     §3.3.5), as RFC 9440's Client-Cert holds: ":", base64, ":", padding
//     optional (§4.2.7), with parameters (well formed, and ignored: RFC
//     9440 defines none) and nothing else after it: a list of items, as
//     a proxy appending its value to a client's would make, is malformed;
//   - a URL-encoded PEM certificate, as nginx's $ssl_client_escaped_cert
//     gives it: one CERTIFICATE block and nothing else.
func parseCertificateField(values []string) ([]byte, bool) {
	if len(values) != 1 {
		return nil, false
	}
	v := strings.Trim(values[0], " \t")
	if v == "" {
		return nil, false
	}
	if v[0] != ':' {
		return parseEscapedPEM(v)
	}
	b64, rest, ok := byteSequence(v)
	if !ok {
		return nil, false
	}
	if rest, ok = skipParameters(rest); !ok || rest != "" {
		return nil, false
	}
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if der, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return nil, false
		}
	}
	return der, len(der) > 0
}

// byteSequence splits s, which starts with ":", into the base64 of the
// byte sequence it starts with and what follows; not ok if the sequence
// is not closed or holds a character base64 does not use (RFC 8941
// §4.2.7).
func byteSequence(s string) (b64, rest string, ok bool) {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == ':':
			return s[1:i], s[i+1:], true
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/', c == '=':
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// skipParameters reads the parameters at the start of s (RFC 8941
// §4.2.3.2: ";" key ["=" bare item], each key lowercase) and returns what
// follows them; not ok if one is malformed.
func skipParameters(s string) (rest string, ok bool) {
	for len(s) > 0 && s[0] == ';' {
		s = strings.TrimLeft(s[1:], " ")
		if s == "" || !(s[0] == '*' || 'a' <= s[0] && s[0] <= 'z') {
			return "", false
		}
		i := 1
		for i < len(s) && (s[i] == '_' || s[i] == '-' || s[i] == '.' || s[i] == '*' || 'a' <= s[i] && s[i] <= 'z' || '0' <= s[i] && s[i] <= '9') {
			i++
		}
		if s = s[i:]; s != "" && s[0] == '=' {
			if s, ok = skipBareItem(s[1:]); !ok {
				return "", false
			}
		}
	}
	return s, true
}

// skipBareItem reads the bare item at the start of s (RFC 8941 §4.2.3.1:
// a number, string, token, byte sequence or boolean) and returns what
// follows it.
func skipBareItem(s string) (rest string, ok bool) {
	if s == "" {
		return "", false
	}
	switch c := s[0]; {
	case c == '-' || '0' <= c && c <= '9': // integer or decimal
		i, digits, dot := 0, 0, false
		if c == '-' {
			i++
		}
		for ; i < len(s); i++ {
			if s[i] == '.' && !dot && digits > 0 {
				dot = true
			} else if '0' <= s[i] && s[i] <= '9' {
				digits++
			} else {
				break
			}
		}
		return s[i:], digits > 0 && s[i-1] != '.'
	case c == '"': // string
		for i := 1; i < len(s); i++ {
			switch {
			case s[i] == '"':
				return s[i+1:], true
			case s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				i++
			case s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\':
				return "", false
			}
		}
		return "", false
	case c == ':':
		_, rest, ok := byteSequence(s)
		return rest, ok
	case c == '?':
		return s[min(2, len(s)):], len(s) >= 2 && (s[1] == '0' || s[1] == '1')
	case c == '*' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z': // token
		i := 1
		for i < len(s) && (strings.IndexByte("!#$%&'*+-.^_`|~:/", s[i]) >= 0 || 'A' <= s[i] && s[i] <= 'Z' || 'a' <= s[i] && s[i] <= 'z' || '0' <= s[i] && s[i] <= '9') {
			i++
		}
		return s[i:], true
	}
	return "", false
}

// parseEscapedPEM reads a URL-encoded PEM certificate (a "+" is a "+"):
// one CERTIFICATE block, with nothing but white space around it.
func parseEscapedPEM(v string) ([]byte, bool) {
	s, err := url.PathUnescape(v)
	if err != nil {
		return nil, false
	}
	s = strings.TrimSpace(s)
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" || len(block.Bytes) == 0 || len(block.Headers) != 0 ||
		!strings.HasPrefix(s, "-----BEGIN CERTIFICATE-----") || strings.TrimSpace(string(rest)) != "" {
		return nil, false
	}
	return block.Bytes, true
}

// x5tS256 is a DER certificate's RFC 8705 thumbprint.
func x5tS256(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
