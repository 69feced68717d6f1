package httpapi_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/httpapi/tlstest"
)

// poll is how often the tests' certificates are read again.
const poll = 10 * time.Millisecond

// watch starts watching the pair, logging JSON lines to the returned
// buffer, until the test ends.
func watch(t *testing.T, certFile, keyFile string) (*httpapi.Certificate, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	cert, stop, err := httpapi.WatchCertificate(context.Background(), certFile, keyFile, poll, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return cert, logs
}

// tlsServer serves h over TLS with cert on loopback, at most max
// connections, until the test ends.
func tlsServer(t *testing.T, cert *httpapi.Certificate, h http.Handler, max int) (srv *http.Server, addr string, l *httpapi.Listener) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))
	srv = httpapi.NewServer("", h, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l = httpapi.LimitConnections(srv, ln, max, log)
	done := make(chan struct{})
	go func() {
		defer close(done)
		httpapi.ServeTLS(srv, l, cert)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return srv, ln.Addr().String(), l
}

// servedSerial makes a TLS handshake with addr, trusting ca, and returns
// the serial number of the certificate the server presented.
func servedSerial(t *testing.T, addr string, ca *tlstest.CA) *big.Int {
	t.Helper()
	c, err := tls.Dial("tcp", addr, ca.ClientConfig("localhost"))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// waitServed waits until the server presents want's certificate.
func waitServed(t *testing.T, addr string, ca *tlstest.CA, want tlstest.Pair) {
	t.Helper()
	eventually(t, "the new certificate is served", func() bool {
		return servedSerial(t, addr, ca).Cmp(want.Leaf.SerialNumber) == 0
	})
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })

// Renewals replace the files in place, by certbot's symlinks in live/, or
// by cert-manager's ..data swap; each time the next handshake presents
// the new certificate, and the log says so.
func TestCertificateRotation(t *testing.T) {
	ca := tlstest.NewCA(t, "rotation CA")

	t.Run("files rewritten", func(t *testing.T) {
		dir := t.TempDir()
		first, second := ca.Issue(t, tlstest.Options{}), ca.Issue(t, tlstest.Options{})
		certFile, keyFile := first.Write(t, dir)
		cert, logs := watch(t, certFile, keyFile)
		_, addr, _ := tlsServer(t, cert, okHandler, 10)
		if got := servedSerial(t, addr, ca); got.Cmp(first.Leaf.SerialNumber) != 0 {
			t.Fatalf("served serial %x, want the first certificate's %x", got, first.Leaf.SerialNumber)
		}
		// The key first, then the certificate, as a script copying both
		// would: in between, the old certificate with the new key.
		tlstest.WriteFile(t, keyFile, second.KeyPEM)
		tlstest.WriteFile(t, certFile, second.CertPEM)
		waitServed(t, addr, ca, second)
		line := logLine(t, logs, "serving a new TLS certificate")
		if want := serialHex(second); line["serial"] != want {
			t.Errorf("log: serial %v, want %s", line["serial"], want)
		}
	})

	t.Run("certbot: symlinks in live/ pointed at new files in archive/", func(t *testing.T) {
		dir := t.TempDir()
		archive, live := filepath.Join(dir, "archive", "api.example"), filepath.Join(dir, "live", "api.example")
		mkdirs(t, archive, live)
		first, second := ca.Issue(t, tlstest.Options{}), ca.Issue(t, tlstest.Options{})
		tlstest.WriteFile(t, filepath.Join(archive, "fullchain1.pem"), first.CertPEM)
		tlstest.WriteFile(t, filepath.Join(archive, "privkey1.pem"), first.KeyPEM)
		swapLink(t, "../../archive/api.example/fullchain1.pem", filepath.Join(live, "fullchain.pem"))
		swapLink(t, "../../archive/api.example/privkey1.pem", filepath.Join(live, "privkey.pem"))
		cert, _ := watch(t, filepath.Join(live, "fullchain.pem"), filepath.Join(live, "privkey.pem"))
		_, addr, _ := tlsServer(t, cert, okHandler, 10)
		waitServed(t, addr, ca, first)

		tlstest.WriteFile(t, filepath.Join(archive, "fullchain2.pem"), second.CertPEM)
		tlstest.WriteFile(t, filepath.Join(archive, "privkey2.pem"), second.KeyPEM)
		swapLink(t, "../../archive/api.example/fullchain2.pem", filepath.Join(live, "fullchain.pem"))
		swapLink(t, "../../archive/api.example/privkey2.pem", filepath.Join(live, "privkey.pem"))
		waitServed(t, addr, ca, second)
	})

	t.Run("cert-manager: a Secret volume's ..data swapped", func(t *testing.T) {
		dir := t.TempDir()
		first, second := ca.Issue(t, tlstest.Options{}), ca.Issue(t, tlstest.Options{})
		// As the kubelet lays out a Secret volume: the files in a
		// timestamped folder, ..data pointing at it, and each key a link
		// through ..data.
		writeSecret := func(name string, p tlstest.Pair) {
			mkdirs(t, filepath.Join(dir, name))
			tlstest.WriteFile(t, filepath.Join(dir, name, "tls.crt"), p.CertPEM)
			tlstest.WriteFile(t, filepath.Join(dir, name, "tls.key"), p.KeyPEM)
			swapLink(t, name, filepath.Join(dir, "..data"))
		}
		writeSecret("..2025_01_01_00_00_00.1", first)
		swapLink(t, "..data/tls.crt", filepath.Join(dir, "tls.crt"))
		swapLink(t, "..data/tls.key", filepath.Join(dir, "tls.key"))
		cert, _ := watch(t, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
		_, addr, _ := tlsServer(t, cert, okHandler, 10)
		waitServed(t, addr, ca, first)

		writeSecret("..2025_02_01_00_00_00.2", second)
		if err := os.RemoveAll(filepath.Join(dir, "..2025_01_01_00_00_00.1")); err != nil {
			t.Fatal(err)
		}
		waitServed(t, addr, ca, second)
	})
}

// A new pair that cannot be served leaves the served one in place, and is
// logged once per change (INFO when first seen, WARN if it stays), not at
// every look; a whole pair is then served. Each change swaps both files at
// once (a ..data symlink, as cert-manager does), so that no look sees one
// file changed and not the other.
func TestCertificateKeepsTheServedPair(t *testing.T) {
	ca := tlstest.NewCA(t, "keep CA")
	dir := t.TempDir()
	version := 0
	// put makes the files hold cert and key (nil: no such file).
	put := func(cert, key []byte) {
		version++
		name := fmt.Sprintf("..v%d", version)
		mkdirs(t, filepath.Join(dir, name))
		if cert != nil {
			tlstest.WriteFile(t, filepath.Join(dir, name, "tls.crt"), cert)
		}
		if key != nil {
			tlstest.WriteFile(t, filepath.Join(dir, name, "tls.key"), key)
		}
		swapLink(t, name, filepath.Join(dir, "..data"))
	}
	first := ca.Issue(t, tlstest.Options{})
	put(first.CertPEM, first.KeyPEM)
	swapLink(t, "..data/tls.crt", filepath.Join(dir, "tls.crt"))
	swapLink(t, "..data/tls.key", filepath.Join(dir, "tls.key"))
	cert, logs := watch(t, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	reg := prometheus.NewRegistry()
	reg.MustRegister(cert.Collectors()...)
	_, addr, _ := tlsServer(t, cert, okHandler, 10)
	servedSerialHex := serialHex(first)

	expired := ca.Issue(t, tlstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	cases := []struct {
		name       string
		cert, key  []byte
		wantReason string
	}{
		{"half-written: the certificate new, the key not yet", ca.Issue(t, tlstest.Options{}).CertPEM, first.KeyPEM,
			"is not the key of the certificate"},
		{"the key unreadable", first.CertPEM, nil, "no such file or directory"},
		{"the certificate cut short", ca.Issue(t, tlstest.Options{}).CertPEM[:200], first.KeyPEM, "no PEM-encoded certificate"},
		{"the key file holding a certificate", first.CertPEM, first.CertPEM, "tls.key: found a certificate rather than a key"},
		{"an expired certificate", expired.CertPEM, expired.KeyPEM, "the certificate expired at"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(linesSince(logs, 0))
			put(c.cert, c.key)
			// Many looks later: one INFO, then one WARN, and nothing more.
			eventually(t, "a warning", func() bool { return countSince(logs, before, `"level":"WARN"`) == 1 })
			time.Sleep(20 * poll)
			lines := linesSince(logs, before)
			if len(lines) != 2 || !strings.Contains(lines[0], `"level":"INFO"`) || !strings.Contains(lines[1], `"level":"WARN"`) {
				t.Fatalf("log: got %d lines, want one INFO and one WARN:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			for _, l := range lines {
				if !strings.Contains(l, c.wantReason) || !strings.Contains(l, `"serial":"`+servedSerialHex+`"`) {
					t.Errorf("log line does not say %q and name the served serial %s:\n%s", c.wantReason, servedSerialHex, l)
				}
			}
			if got := servedSerial(t, addr, ca); got.Cmp(first.Leaf.SerialNumber) != 0 {
				t.Errorf("served serial %x, want the first certificate's %x still", got, first.Leaf.SerialNumber)
			}
			if got := metric(t, reg, "tls_certificate_reloads_total", "refused"); got != float64(i+1) {
				t.Errorf("tls_certificate_reloads_total{result=refused}: got %v, want %d", got, i+1)
			}
		})
	}

	// Then a whole pair: served at the next look.
	second := ca.Issue(t, tlstest.Options{})
	put(second.CertPEM, second.KeyPEM)
	waitServed(t, addr, ca, second)
	if got, want := metric(t, reg, "tls_certificate_not_after_timestamp_seconds", ""), float64(second.Leaf.NotAfter.Unix()); got != want {
		t.Errorf("tls_certificate_not_after_timestamp_seconds: got %v, want %v", got, want)
	}
	if served, refused := metric(t, reg, "tls_certificate_reloads_total", "served"), metric(t, reg, "tls_certificate_reloads_total", "refused"); served != 1 || refused != 5 {
		t.Log(logs.String())
		t.Errorf("tls_certificate_reloads_total: got served %v, refused %v; want 1 and 5", served, refused)
	}
}

// The served certificate's serial number and expiry are in the log and
// the metrics from the start; an expired one is served (a start-up is no
// time to refuse), with a warning.
func TestCertificateExpiryInformation(t *testing.T) {
	ca := tlstest.NewCA(t, "expiry CA")
	for _, c := range []struct {
		name      string
		notAfter  time.Time
		wantLevel string
		wantMsg   string
	}{
		{"valid", time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second), "INFO", "serving the TLS certificate"},
		{"expired", time.Now().Add(-time.Hour).Truncate(time.Second), "WARN", "serving the TLS certificate: it has expired; clients will refuse it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := ca.Issue(t, tlstest.Options{NotBefore: time.Now().Add(-100 * 24 * time.Hour), NotAfter: c.notAfter})
			certFile, keyFile := p.Write(t, t.TempDir())
			cert, logs := watch(t, certFile, keyFile)
			reg := prometheus.NewRegistry()
			reg.MustRegister(cert.Collectors()...)
			line := logLine(t, logs, c.wantMsg)
			if line["level"] != c.wantLevel || line["serial"] != serialHex(p) ||
				line["not_after"] != c.notAfter.UTC().Format(time.RFC3339) {
				t.Errorf("log line %v: want level %s, serial %X, not_after %s", line, c.wantLevel, p.Leaf.SerialNumber, c.notAfter.UTC().Format(time.RFC3339))
			}
			if got := metric(t, reg, "tls_certificate_not_after_timestamp_seconds", ""); got != float64(c.notAfter.Unix()) {
				t.Errorf("tls_certificate_not_after_timestamp_seconds: got %v, want %d", got, c.notAfter.Unix())
			}
		})
	}
}

// A pair that cannot be served stops the start: the error says which
// file is at fault.
func TestWatchCertificateRefusesABadPair(t *testing.T) {
	ca := tlstest.NewCA(t, "bad pair CA")
	p, other := ca.Issue(t, tlstest.Options{}), ca.Issue(t, tlstest.Options{})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		tlstest.WriteFile(t, path, data)
		return path
	}
	cert, key, otherKey := write("cert.pem", p.CertPEM), write("key.pem", p.KeyPEM), write("other.pem", other.KeyPEM)
	empty, missing := write("empty.pem", nil), filepath.Join(dir, "missing.pem")
	for _, c := range []struct {
		name           string
		cert, key      string
		wantCert, wKey bool
		want           string
	}{
		{"no certificate file", missing, key, true, false, "missing.pem: no such file"},
		{"no key file", cert, missing, false, true, "missing.pem: no such file"},
		{"an empty certificate file", empty, key, true, false, "no PEM-encoded certificate"},
		{"a key in the certificate file", key, key, true, false, `a PEM "PRIVATE KEY" block, not a CERTIFICATE`},
		{"an empty key file", cert, empty, false, true, "empty.pem"},
		{"a certificate in the key file", cert, cert, false, true, "cert.pem"},
		{"another certificate's key", cert, otherKey, true, true, "is not the key of the certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := httpapi.WatchCertificate(context.Background(), c.cert, c.key, poll, nil)
			var ce *httpapi.CertificateError
			if !errors.As(err, &ce) || ce.Cert != c.wantCert || ce.Key != c.wKey || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %#v (%v), want a CertificateError{Cert: %v, Key: %v} saying %q", err, err, c.wantCert, c.wKey, c.want)
			}
		})
	}
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// swapLink points the symlink link at target atomically (a new link
// renamed over the old), as certbot and the kubelet do.
func swapLink(t *testing.T, target, link string) {
	t.Helper()
	tmp := link + ".tmp"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// logLine waits for the JSON log line with msg and returns it.
func logLine(t *testing.T, logs *lockedBuffer, msg string) map[string]any {
	t.Helper()
	var found map[string]any
	eventually(t, "a log line "+msg, func() bool {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// linesSince returns the log lines after the first skip.
func linesSince(logs *lockedBuffer, skip int) []string {
	lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	if skip >= len(lines) {
		return nil
	}
	return lines[skip:]
}

func countSince(logs *lockedBuffer, skip int, s string) int {
	n := 0
	for _, l := range linesSince(logs, skip) {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// metric returns the value of the gauge or counter name in reg: the one
// whose only label has the value label ("" for one without labels).
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if ls := m.GetLabel(); label == "" && len(ls) == 0 || len(ls) == 1 && ls[0].GetValue() == label {
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}

// serialHex is the pair's serial number as the log gives it, and openssl
// x509 -serial prints it: upper-case hex, whole bytes.
func serialHex(p tlstest.Pair) string {
	return strings.ToUpper(hex.EncodeToString(p.Leaf.SerialNumber.Bytes()))
}
