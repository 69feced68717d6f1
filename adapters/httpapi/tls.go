package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Certificate is the API's TLS certificate and private key, read from two
// PEM files and read again when they change, so that a renewed certificate
// is served without a restart.
//
// Renewals replace the files in one of two ways, and both are seen:
// certbot points the symlinks in live/NAME/ at new files in archive/NAME/,
// one link after another; cert-manager (a Kubernetes Secret mounted as a
// volume) swaps the volume's ..data symlink at once. The files are
// compared by their content, read every few seconds (a few kilobytes), so
// that neither a symlink swap, nor a file rewritten in place within the
// same second, nor a file system without reliable modification times is
// missed; and no file-watching dependency is needed (inotify, which
// fsnotify uses, reports events on the files' directory entries, and
// both renewals replace symlinks above the files). A change is taken once
// two reads in a row agree, so that a swap between reading the
// certificate and reading the key is not mistaken for a mismatched pair.
//
// A new pair is served only once it is whole: both files readable, the
// certificate and key PEM-encoded, the key matching the certificate, the
// certificate not expired. Until then the served pair stays. A change that
// cannot be served is logged once: at INFO when first seen (a renewal
// caught half-way, its certificate already new and its key not yet, is
// normal for a moment), at WARN if the files still say the same at the
// next look.
type Certificate struct {
	certFile, keyFile string
	log               *slog.Logger

	served atomic.Pointer[servedCertificate]

	// The files as last read, and what was made of them: used by the
	// watching goroutine only.
	seen    fileContents
	seenErr error
	warned  bool // seenErr was logged at WARN

	reloaded, refused atomic.Uint64

	// Client certificates (RFC 8705), set by AskClientCertificates before
	// serving.
	askClients bool
	clientCAs  *x509.CertPool
}

// AskClientCertificates makes the server ask TLS clients for a
// certificate, never require one (a browser without one is not bothered),
// so that tokens bound to a certificate (cnf x5t#S256) can be checked. With
// cas nil a certificate is taken unverified: it only has to be the one a
// token is bound to, and the handshake proves the client holds its
// private key (self-signed clients, RFC 8705 §2.2). With cas, a
// certificate must chain to one of them, for client authentication, or
// the handshake fails (RFC 8705 §2.1). Call it before ServeTLS.
func (c *Certificate) AskClientCertificates(cas *x509.CertPool) {
	c.askClients, c.clientCAs = true, cas
}

// servedCertificate is a pair being served and its leaf certificate.
type servedCertificate struct {
	cert *tls.Certificate
	leaf *x509.Certificate
}

// fileContents are the two files' bytes (nil if unreadable) and read
// errors, compared between looks.
type fileContents struct {
	cert, key       []byte
	certErr, keyErr string
}

func (a fileContents) equal(b fileContents) bool {
	return bytes.Equal(a.cert, b.cert) && bytes.Equal(a.key, b.key) && a.certErr == b.certErr && a.keyErr == b.keyErr
}

// CertificateError says why a pair cannot be served and which file is at
// fault: the certificate's (Cert), the key's (Key), or both (a key that
// does not match the certificate).
type CertificateError struct {
	Cert, Key bool
	Err       error
}

func (e *CertificateError) Error() string { return e.Err.Error() }
func (e *CertificateError) Unwrap() error { return e.Err }

// CertificatePollInterval is how often WatchCertificate reads the files.
// Renewals happen weeks before expiry, so a few seconds is prompt; reading
// two small files that often costs nothing measurable.
const CertificatePollInterval = 5 * time.Second

// WatchCertificate reads certFile (the certificate, then any intermediate
// certificates, PEM) and keyFile (its private key, PEM) and returns them
// ready to serve, or a *CertificateError. Until ctx ends or stop is
// called, it reads them again every interval and serves a new pair as soon
// as one is whole. It logs the served certificate (serial number, names,
// validity) when it starts serving it.
func WatchCertificate(ctx context.Context, certFile, keyFile string, every time.Duration, log *slog.Logger) (c *Certificate, stop func(), err error) {
	c = &Certificate{certFile: certFile, keyFile: keyFile, log: log}
	c.seen = c.read()
	served, err := c.parse(c.seen)
	if err != nil {
		return nil, nil, err
	}
	c.served.Store(served)
	c.logServed("serving the TLS certificate", served)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.poll()
			}
		}
	})
	return c, func() { cancel(); wg.Wait() }, nil
}

// read reads both files.
func (c *Certificate) read() fileContents {
	var f fileContents
	var err error
	if f.cert, err = os.ReadFile(c.certFile); err != nil {
		f.cert, f.certErr = nil, err.Error()
	}
	if f.key, err = os.ReadFile(c.keyFile); err != nil {
		f.key, f.keyErr = nil, err.Error()
	}
	return f
}

// parse makes a servable pair of f, or says why not.
func (c *Certificate) parse(f fileContents) (*servedCertificate, error) {
	switch {
	case f.certErr != "":
		return nil, &CertificateError{Cert: true, Err: errors.New(f.certErr)}
	case f.keyErr != "":
		return nil, &CertificateError{Key: true, Err: errors.New(f.keyErr)}
	}
	leaf, err := firstCertificate(f.cert)
	if err != nil {
		return nil, &CertificateError{Cert: true, Err: fmt.Errorf("%s: %w", c.certFile, err)}
	}
	pair, err := tls.X509KeyPair(f.cert, f.key)
	if err != nil {
		// The certificate parsed above, so the key is at fault: either it
		// cannot be read, or it is not the certificate's.
		msg := strings.TrimPrefix(err.Error(), "tls: ")
		if strings.Contains(msg, "does not match") {
			return nil, &CertificateError{Cert: true, Key: true,
				Err: fmt.Errorf("the key in %s is not the key of the certificate in %s (%s)", c.keyFile, c.certFile, msg)}
		}
		return nil, &CertificateError{Key: true, Err: fmt.Errorf("%s: %s", c.keyFile, msg)}
	}
	return &servedCertificate{cert: &pair, leaf: leaf}, nil
}

// firstCertificate parses the first PEM block of a certificate file,
// which must be a certificate.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	switch {
	case block == nil:
		return nil, errors.New("no PEM-encoded certificate in the file")
	case block.Type != "CERTIFICATE":
		return nil, fmt.Errorf("the file starts with a PEM %q block, not a CERTIFICATE", block.Type)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the certificate cannot be parsed: %w", err)
	}
	return cert, nil
}

// poll reads the files and, if they changed since the last look, serves
// them or says why not.
func (c *Certificate) poll() {
	f := c.read()
	if f.equal(c.seen) {
		if c.seenErr != nil && !c.warned {
			// Not a renewal caught half-way: the files have stayed so.
			c.warned = true
			c.logRefused(slog.LevelWarn, c.seenErr)
		}
		return
	}
	if again := c.read(); !again.equal(f) {
		// The files are being replaced (the two reads may even have seen
		// the certificate before a swap and the key after it): look again
		// next time.
		return
	}
	c.seen, c.seenErr, c.warned = f, nil, false
	next, err := c.parse(f)
	if err == nil && time.Now().After(next.leaf.NotAfter) {
		err = &CertificateError{Cert: true, Err: fmt.Errorf("%s: the certificate expired at %s",
			c.certFile, next.leaf.NotAfter.UTC().Format(time.RFC3339))}
	}
	if err != nil {
		c.seenErr = err
		c.refused.Add(1)
		c.logRefused(slog.LevelInfo, err)
		return
	}
	if next.leaf.Equal(c.served.Load().leaf) {
		// The same certificate written again (and so the same key: it
		// matches the certificate).
		return
	}
	c.served.Store(next)
	c.reloaded.Add(1)
	c.logServed("serving a new TLS certificate", next)
}

func (c *Certificate) logRefused(level slog.Level, err error) {
	if c.log == nil {
		return
	}
	served := c.served.Load().leaf
	msg := "the TLS certificate files changed but cannot be served yet; still serving the previous certificate"
	if level >= slog.LevelWarn {
		msg = "the TLS certificate files cannot be served; still serving the previous certificate"
	}
	c.log.Log(context.Background(), level, msg,
		"error", err.Error(), "cert_file", c.certFile, "key_file", c.keyFile,
		"serial", serialHex(served), "not_after", served.NotAfter.UTC())
}

func (c *Certificate) logServed(msg string, s *servedCertificate) {
	if c.log == nil {
		return
	}
	leaf := s.leaf
	attrs := []any{
		"serial", serialHex(leaf), "subject", leaf.Subject.String(), "dns_names", leaf.DNSNames,
		"issuer", leaf.Issuer.String(), "not_before", leaf.NotBefore.UTC(), "not_after", leaf.NotAfter.UTC(),
		"cert_file", c.certFile,
	}
	switch now := time.Now(); {
	case now.After(leaf.NotAfter):
		c.log.Warn(msg+": it has expired; clients will refuse it", attrs...)
	case now.Before(leaf.NotBefore):
		c.log.Warn(msg+": it is not valid yet; clients will refuse it", attrs...)
	default:
		c.log.Info(msg, attrs...)
	}
}

// serialHex is a certificate's serial number as openssl x509 -serial
// prints it: upper-case hex.
func serialHex(leaf *x509.Certificate) string {
	return strings.ToUpper(hex.EncodeToString(leaf.SerialNumber.Bytes()))
}

// Leaf returns the certificate being served.
func (c *Certificate) Leaf() *x509.Certificate { return c.served.Load().leaf }

// get is tls.Config.GetCertificate: the pair being served, whatever the
// client asks for (SNI).
func (c *Certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.served.Load().cert, nil
}

// TLSConfig is the server's TLS configuration: TLS 1.2 or later, HTTP/2
// or HTTP/1.1 by ALPN, and the certificate being served at the moment of
// each handshake; and, after AskClientCertificates, a request for the
// client's certificate. TLS 1.3's suites are Go's (all AEADs); TLS 1.2's
// are tls12Suites.
func (c *Certificate) TLSConfig() *tls.Config {
	conf := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12Suites,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: c.get,
	}
	switch {
	case c.askClients && c.clientCAs != nil:
		conf.ClientAuth, conf.ClientCAs = tls.VerifyClientCertIfGiven, c.clientCAs
	case c.askClients:
		conf.ClientAuth = tls.RequestClientCert
	}
	return conf
}

// tls12Suites are the TLS 1.2 cipher suites the server agrees to: those
// of Go's defaults that are forward-secret (ECDHE) AEADs, for ECDSA and
// RSA certificates alike. Go's defaults add ECDHE with AES-CBC and
// HMAC-SHA1, which HTTP/2 forbids (RFC 9113 Appendix A) and which every
// browser that speaks TLS 1.2 can do without. Mozilla's "intermediate"
// profile is the same, plus DHE suites that Go does not implement. Go
// picks among them in its own order.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Collectors are the certificate's metrics: when the served one expires
// (for an alert well before it does), and reloads by result.
func (c *Certificate) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tls_certificate_not_after_timestamp_seconds",
			Help: "When the TLS certificate being served expires (Unix time); the log names its serial number.",
		}, func() float64 { return float64(c.Leaf().NotAfter.Unix()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "tls_certificate_reloads_total",
			Help:        "Changes of the TLS certificate files: served, or refused (the previous pair kept; the log says why).",
			ConstLabels: prometheus.Labels{"result": "served"},
		}, func() float64 { return float64(c.reloaded.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "tls_certificate_reloads_total",
			Help:        "Changes of the TLS certificate files: served, or refused (the previous pair kept; the log says why).",
			ConstLabels: prometheus.Labels{"result": "refused"},
		}, func() float64 { return float64(c.refused.Load()) }),
	}
}

// ServeTLS serves srv over TLS with cert on l, which LimitConnections made
// for srv, until srv is shut down or closed.
//
// The connection cap is below TLS: a connection counts from its first
// byte, during its handshake too, so a crowd of clients that open
// connections and never finish (or never start) a handshake is capped like
// any other. Beyond the cap a connection is closed without an answer: a
// plain-text 503 would mean nothing to a TLS client, and a handshake to
// send one costs the server what the cap saves. The handshake must end
// within srv's read timeout.
//
// ServeTLS makes the handshake itself rather than leave it to net/http,
// so that HTTP/1.1 requests keep their cap on header fields
// (MaxHeaderFields): the cap counts the bytes of request heads as the
// server reads them, and only above TLS are they readable. A connection
// that chose HTTP/2 (ALPN h2) goes to net/http as the *tls.Conn it knows,
// which serves it with HTTP/2 (whose own limit on header blocks counts
// each field: http2.go); one that chose HTTP/1.1 goes as a tlsHTTP1Conn,
// which counts the fields and gives net/http the connection's TLS state
// for Request.TLS. HTTP/2 requests get the same cap on fields once read
// (limitHTTP2Fields).
func ServeTLS(srv *http.Server, l *Listener, cert *Certificate) error {
	l.tls = true
	srv.Handler = l.limitHTTP2Fields(srv.Handler)
	t := &tlsListener{Listener: l, config: cert.TLSConfig(), timeout: srv.ReadTimeout, log: srv.ErrorLog,
		accepted: make(chan acceptResult), done: make(chan struct{})}
	go t.acceptLoop()
	return srv.Serve(t)
}

// tlsListener makes the TLS handshake of each connection l accepts, each
// in its own goroutine, and hands on those that complete it.
type tlsListener struct {
	*Listener
	config   *tls.Config
	timeout  time.Duration // for a handshake
	log      *log.Logger
	accepted chan acceptResult
	done     chan struct{} // closed by Close
	closing  sync.Once
}

type acceptResult struct {
	conn net.Conn
	err  error
}

// acceptLoop accepts connections and starts their handshakes until the
// listener fails for good. An error reaches Accept, and so net/http,
// which retries after a pause if it is temporary.
func (t *tlsListener) acceptLoop() {
	for {
		c, err := t.Listener.Accept()
		if err != nil {
			select {
			case t.accepted <- acceptResult{err: err}:
			case <-t.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go t.handshake(c)
	}
}

// handshake makes c's TLS handshake within the timeout and hands it on;
// a connection that fails it is closed.
func (t *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, t.config)
	if t.timeout > 0 {
		c.SetDeadline(time.Now().Add(t.timeout))
	}
	if err := tc.Handshake(); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			// As net/http answers plain HTTP sent to its TLS port.
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		c.Close()
		if t.log != nil && !errors.Is(err, io.EOF) {
			t.log.Printf("http: TLS handshake error from %s: %v", c.RemoteAddr(), err)
		}
		return
	}
	c.SetDeadline(time.Time{})
	var conn net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		lc, _ := c.(*limitedConn)
		conn = &tlsHTTP1Conn{Conn: tc, lc: lc, state: tc.ConnectionState()}
	}
	select {
	case t.accepted <- acceptResult{conn: conn}:
	case <-t.done:
		tc.Close()
	}
}

func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// Accept returns the next connection whose handshake is complete.
func (t *tlsListener) Accept() (net.Conn, error) {
	select {
	case r := <-t.accepted:
		return r.conn, r.err
	case <-t.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections in their handshake are closed as
// they end it.
func (t *tlsListener) Close() error {
	t.closing.Do(func() { close(t.done) })
	return t.Listener.Close()
}

// tlsHTTP1Conn is a TLS connection that chose HTTP/1.1. Its reads count
// header fields (limitedConn.countHead), and its ConnectionState gives
// net/http the TLS state for Request.TLS (net/http asks any connection
// that has the method).
type tlsHTTP1Conn struct {
	*tls.Conn
	lc    *limitedConn
	state tls.ConnectionState
}

func (c *tlsHTTP1Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.lc != nil && !c.lc.countHead(p[:n], c.Conn) {
		return 0, io.EOF
	}
	return n, err
}

// ConnectionState is the state of the completed handshake.
func (c *tlsHTTP1Conn) ConnectionState() tls.ConnectionState { return c.state }

// NetConn returns the connection below TLS, for LimitConnections.
func (c *tlsHTTP1Conn) NetConn() net.Conn { return c.Conn.NetConn() }

// HSTS adds Strict-Transport-Security: max-age=SECONDS to every answer
// sent over TLS (RFC 6797 §7.2: never over plain HTTP), 404s and errors
// included. maxAge is rounded down to whole seconds.
func HSTS(h http.Handler, maxAge time.Duration) http.Handler {
	value := []string{"max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header()["Strict-Transport-Security"] = value
		}
		h.ServeHTTP(w, r)
	})
}
