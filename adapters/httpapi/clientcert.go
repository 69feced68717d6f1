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
//   - a Structured Field byte sequence (RFC 8941 §3.3.5), as RFC 9440's
//     Client-Cert holds: ":", base64, ":", with optional surrounding
//     spaces and parameters (ignored: RFC 9440 defines none); padding may
//     be left out (RFC 8941 §4.2.7);
//   - a URL-encoded PEM certificate, as nginx's $ssl_client_escaped_cert
//     gives it.
func parseCertificateField(values []string) ([]byte, bool) {
	if len(values) != 1 {
		return nil, false
	}
	v := strings.Trim(values[0], " \t")
	if len(v) < 2 {
		return nil, false
	}
	if v[0] != ':' {
		return parseEscapedPEM(v)
	}
	end := strings.IndexByte(v[1:], ':')
	if end < 0 {
		return nil, false
	}
	b64, rest := v[1:1+end], v[2+end:]
	if rest != "" && rest[0] != ';' {
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

// parseEscapedPEM reads a URL-encoded PEM certificate (a "+" is a "+").
func parseEscapedPEM(v string) ([]byte, bool) {
	s, err := url.PathUnescape(v)
	if err != nil {
		return nil, false
	}
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" || len(block.Bytes) == 0 {
		return nil, false
	}
	return block.Bytes, true
}

// x5tS256 is a DER certificate's RFC 8705 thumbprint.
func x5tS256(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
