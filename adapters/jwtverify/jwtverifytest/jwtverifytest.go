// Package jwtverifytest is the test kit of jwtverify and the provider
// adapters built on it: a stand-in OpenID Connect issuer on loopback (a
// real HTTP server with discovery and a JWKS, keys that can be rotated),
// helpers to sign well-formed and hostile tokens, a movable clock and
// settings from a map. Only tests import it.
package jwtverifytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Audience is the API identifier tokens are minted for by default.
const Audience = "https://api.example.test"

// Key is a signing key with its JWKS metadata.
type Key struct {
	KID     string
	Alg     string // the token "alg" it signs with
	Private crypto.Signer
	// JWKAlg and Use go into the JWKS entry; empty omits them.
	JWKAlg string
	Use    string
}

// Public returns the public half of k.
func (k *Key) Public() crypto.PublicKey { return k.Private.Public() }

var (
	rsaPoolMu sync.Mutex
	rsaPool   = map[int][]*rsa.PrivateKey{}
)

// rsaKey returns the n-th RSA key of the given size, generating it once per
// process: RSA generation is slow and tests need only a few distinct keys.
func rsaKey(t testing.TB, bits, n int) *rsa.PrivateKey {
	t.Helper()
	rsaPoolMu.Lock()
	defer rsaPoolMu.Unlock()
	for len(rsaPool[bits]) <= n {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatalf("generating RSA key: %v", err)
		}
		rsaPool[bits] = append(rsaPool[bits], k)
	}
	return rsaPool[bits][n]
}

// NewRSAKey returns the n-th 2048-bit RSA key (n = 0, 1, 2, ...) as an
// RS256 key with the given kid.
func NewRSAKey(t testing.TB, kid string, n int) *Key {
	return &Key{KID: kid, Alg: "RS256", Private: rsaKey(t, 2048, n), JWKAlg: "RS256", Use: "sig"}
}

// NewRSAKeyBits returns an RS256 key of the given size (for weak-key tests).
func NewRSAKeyBits(t testing.TB, kid string, bits int) *Key {
	return &Key{KID: kid, Alg: "RS256", Private: rsaKey(t, bits, 0), JWKAlg: "RS256", Use: "sig"}
}

// NewECKey returns a fresh ECDSA key for alg ES256, ES384 or ES512.
func NewECKey(t testing.TB, kid, alg string) *Key {
	t.Helper()
	curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatalf("generating EC key: %v", err)
	}
	return &Key{KID: kid, Alg: alg, Private: k, JWKAlg: alg, Use: "sig"}
}

// NewEdKey returns a fresh Ed25519 key (alg EdDSA; set Alg and JWKAlg to
// "Ed25519" for RFC 9864's name).
func NewEdKey(t testing.TB, kid string) *Key {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generating Ed25519 key: %v", err)
	}
	return &Key{KID: kid, Alg: "EdDSA", Private: k, JWKAlg: "EdDSA", Use: "sig"}
}

// JWK returns k's public JWK as JSON, with "alg" exactly k.JWKAlg (none
// when it is empty, whatever the key type).
func (k *Key) JWK(t testing.TB) json.RawMessage {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: k.KID, USE: jwkset.USE(k.Use),
	}})
	if err != nil {
		t.Fatalf("JWK for %s: %v", k.KID, err)
	}
	b, err := json.Marshal(j.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "alg")
	if k.JWKAlg != "" {
		m["alg"] = k.JWKAlg
	}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return b
}

// Issuer is an OpenID Connect issuer on loopback.
type Issuer struct {
	Server *httptest.Server
	// URL is the issuer identifier, with a trailing slash.
	URL string
	// Key signs tokens unless another key is given.
	Key *Key

	t    testing.TB
	mux  *http.ServeMux
	path string

	mu        sync.Mutex
	jwks      []byte // served at /.well-known/jwks.json
	down      bool   // answer 503 everywhere
	discovery func(w http.ResponseWriter, r *http.Request)

	// Counters of requests served.
	DiscoveryHits atomic.Int64
	JWKSHits      atomic.Int64
}

// NewIssuer starts an issuer on loopback (plain http) publishing one RS256
// key (kid "key-1"). It stops when the test ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	return newIssuer(t, false, "")
}

// NewIssuerAt is NewIssuer for an issuer at a path, as many providers
// have (/realms/NAME, /oauth2/default, /TENANT/v2.0): its URL is the
// server's plus path, without a trailing slash, and discovery and keys
// live below it.
func NewIssuerAt(t testing.TB, path string) *Issuer {
	t.Helper()
	return newIssuer(t, false, path)
}

// NewTLSIssuer is NewIssuer over https, with httptest's self-signed
// certificate for 127.0.0.1 (see Server.Certificate).
func NewTLSIssuer(t testing.TB) *Issuer {
	t.Helper()
	return newIssuer(t, true, "")
}

func newIssuer(t testing.TB, useTLS bool, path string) *Issuer {
	iss := &Issuer{t: t, Key: NewRSAKey(t, "key-1", 0)}
	iss.mux = http.NewServeMux()
	iss.path = path
	iss.mux.HandleFunc(path+"/.well-known/openid-configuration", iss.serveDiscovery)
	iss.mux.HandleFunc(path+"/.well-known/jwks.json", iss.serveJWKS)
	iss.Server = httptest.NewUnstartedServer(iss.mux)
	// Clients that refuse the test certificate are expected; keep quiet.
	iss.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		iss.Server.StartTLS()
	} else {
		iss.Server.Start()
	}
	iss.URL = iss.Server.URL + "/"
	if path != "" {
		iss.URL = iss.Server.URL + path
	}
	iss.Publish(iss.Key)
	t.Cleanup(iss.Server.Close)
	return iss
}

// Handle adds an endpoint to the issuer.
func (i *Issuer) Handle(pattern string, h http.HandlerFunc) { i.mux.HandleFunc(pattern, h) }

// JWKSURL is where the issuer serves its keys.
func (i *Issuer) JWKSURL() string { return i.Server.URL + i.path + "/.well-known/jwks.json" }

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	i.DiscoveryHits.Add(1)
	i.mu.Lock()
	down, custom := i.down, i.discovery
	i.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if custom != nil {
		custom(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"authorization_endpoint":%q}`, i.URL, i.JWKSURL(), i.URL+"authorize")
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.JWKSHits.Add(1)
	i.mu.Lock()
	down, body := i.down, i.jwks
	i.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// Publish replaces the JWKS with the public keys of keys.
func (i *Issuer) Publish(keys ...*Key) {
	raws := make([]json.RawMessage, len(keys))
	for n, k := range keys {
		raws[n] = k.JWK(i.t)
	}
	i.PublishRaw(raws...)
}

// PublishRaw replaces the JWKS with these JWK JSON objects, as given.
func (i *Issuer) PublishRaw(jwks ...json.RawMessage) {
	if jwks == nil {
		jwks = []json.RawMessage{}
	}
	b, err := json.Marshal(map[string]any{"keys": jwks})
	if err != nil {
		i.t.Fatal(err)
	}
	i.SetJWKSBody(b)
}

// SetJWKSBody makes the JWKS endpoint answer body, whatever it is.
func (i *Issuer) SetJWKSBody(body []byte) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwks = body
}

// SetDown makes every endpoint answer 503 (true) or work again (false).
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// SetDiscovery replaces the discovery handler (nil restores the default).
func (i *Issuer) SetDiscovery(h func(w http.ResponseWriter, r *http.Request)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.discovery = h
}

// Claims returns the claims of a valid access token for sub with scopes:
// iss, aud, sub, iat, exp (one hour), azp, scope.
func (i *Issuer) Claims(sub string, scopes ...string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": i.URL,
		"aud": []string{Audience, i.URL + "userinfo"},
		"sub": sub,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"azp": "test-client",
	}
	if len(scopes) > 0 {
		c["scope"] = strings.Join(scopes, " ")
	}
	return c
}

// Token signs claims with the issuer's key and a header of alg, typ
// "at+jwt" and kid.
func (i *Issuer) Token(claims map[string]any) string {
	return Sign(i.t, i.Key, Header(i.Key), claims)
}

// Header returns the usual header for k: alg, typ "at+jwt", kid.
func Header(k *Key) map[string]any {
	return map[string]any{"alg": k.Alg, "typ": "at+jwt", "kid": k.KID}
}

// Sign makes a compact JWS of header and claims, signed by k with the
// algorithm in header["alg"] when that names one golang-jwt knows (it may
// differ from k.Alg, e.g. PS256 with an RSA key), else with k.Alg. Any
// header or claim value is encoded as given, for hostile tokens.
func Sign(t testing.TB, k *Key, header, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	alg, _ := header["alg"].(string)
	if jwt.GetSigningMethod(alg) == nil {
		alg = k.Alg
	}
	return SignRaw(t, k, alg, h, c)
}

// SignRaw signs arbitrary header and payload bytes with k using alg.
func SignRaw(t testing.TB, k *Key, alg string, header, payload []byte) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("unknown alg %q", alg)
	}
	var key any = k.Private
	sig, err := m.Sign(input, key)
	if err != nil {
		t.Fatalf("signing with %s: %v", alg, err)
	}
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
