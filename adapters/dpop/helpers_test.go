package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// The request every proof is made for unless a test says otherwise.
const (
	testMethod = "GET"
	testURL    = "https://api.example.com/api/private"
	testToken  = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl" // opaque to the proof check
)

// testNow is the tests' clock: a whole second, so boundaries are exact.
var testNow = time.Unix(1_700_000_000, 0)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// key is a client's proof key: its private half, public JWK and thumbprint.
type key struct {
	alg    string
	signer crypto.Signer
	jwk    map[string]any
	jkt    string
}

var (
	keysMu sync.Mutex
	keys   = map[string]*key{}
)

// testKey returns the test key called name, made on first use: name is an
// algorithm ("ES256", "RS256", ...) or "RSA1024", "P384-for-ES256", ....
func testKey(t testing.TB, name string) *key {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[name]; ok {
		return k
	}
	k := &key{alg: name}
	var err error
	switch name {
	case "ES256", "ES256-other":
		k.alg = "ES256"
		k.signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k.signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		k.signer, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256", "PS256":
		k.signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case "RSA1024":
		k.alg = "RS256"
		k.signer, err = rsa.GenerateKey(rand.Reader, 1024)
	case "RSA4096":
		k.alg = "RS256"
		k.signer, err = rsa.GenerateKey(rand.Reader, 4096)
	case "RSA8192": // made once with openssl genrsa 8192: Go takes minutes
		k.alg = "RS256"
		k.signer, err = readPEMKey("testdata/rsa8192.pem")
	case "EdDSA", "Ed25519":
		_, k.signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no test key %q", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	k.jwk = publicJWK(k.signer.Public())
	raw := mustJSON(t, k.jwk)
	if k.jkt, err = dpop.Thumbprint(raw); err != nil && name != "RSA1024" && name != "RSA8192" {
		t.Fatalf("Thumbprint(%s): %v", name, err)
	}
	keys[name] = k
	return k
}

// readPEMKey reads a PKCS #8 private key: a test key, never used elsewhere.
func readPEMKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New(path + ": no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// fixed returns x as big-endian bytes of exactly size bytes.
func fixed(x *big.Int, size int) []byte { return x.FillBytes(make([]byte, size)) }

// publicJWK returns the JWK of a public key, as a client would send it.
func publicJWK(pub crypto.PublicKey) map[string]any {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		return map[string]any{"kty": "EC", "crv": k.Curve.Params().Name, "x": b64(fixed(k.X, size)), "y": b64(fixed(k.Y, size))}
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(k)}
	}
	panic("unknown key type")
}

// privateJWK returns k's JWK with its private members, as a careless
// client might send it.
func privateJWK(k *key) map[string]any {
	m := clone(k.jwk)
	switch s := k.signer.(type) {
	case *ecdsa.PrivateKey:
		m["d"] = b64(fixed(s.D, 32))
	case *rsa.PrivateKey:
		m["d"] = b64(s.D.Bytes())
		m["p"] = b64(s.Primes[0].Bytes())
		m["q"] = b64(s.Primes[1].Bytes())
	case ed25519.PrivateKey:
		m["d"] = b64(s.Seed())
	}
	return m
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// header returns the header of a good proof signed by k.
func header(k *key) map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": k.jwk}
}

var jtiCounter struct {
	sync.Mutex
	n int
}

// claims returns the claims of a good proof for the test request at now,
// with a jti never used before.
func claims(now time.Time) map[string]any {
	jtiCounter.Lock()
	jtiCounter.n++
	n := jtiCounter.n
	jtiCounter.Unlock()
	return map[string]any{
		"jti": "jti-" + big.NewInt(int64(n)).String(),
		"htm": testMethod,
		"htu": testURL,
		"iat": now.Unix(),
		"ath": dpop.AccessTokenHash(testToken),
	}
}

// sign returns the compact JWS of header and claims (JSON-encoded as given:
// a json.RawMessage goes in as it is) signed by signer with the golang-jwt
// method for alg.
func sign(t testing.TB, h, c any, alg string, signer crypto.Signer) string {
	t.Helper()
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(hb) + "." + b64(cb)
	if alg == "Ed25519" {
		alg = "EdDSA"
	}
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("no signing method %q", alg)
	}
	var k any = signer
	if s, ok := signer.(ed25519.PrivateKey); ok {
		k = s
	}
	sig, err := m.Sign(input, k)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return input + "." + b64(sig)
}

// proof returns a good proof by k for the test request at now.
func proof(t testing.TB, k *key, now time.Time) string {
	t.Helper()
	return sign(t, header(k), claims(now), k.alg, k.signer)
}

// request returns the test request carrying proofs, for a token bound to k.
func request(k *key, proofs ...string) ports.ProofRequest {
	return ports.ProofRequest{Method: testMethod, URL: testURL, Proofs: proofs, AccessToken: testToken, JKT: k.jkt}
}

// newVerifier returns a verifier with cfg's settings, the test clock and
// an in-memory replay cache on that clock.
func newVerifier(t testing.TB, clk *clock, edit func(*dpop.Config)) *dpop.Verifier {
	t.Helper()
	cfg := dpop.DefaultConfig()
	cfg.Now = clk.Now
	if edit != nil {
		edit(&cfg)
	}
	v, err := dpop.New(cfg, memory.NewReplayCache(10_000, ports.ReplayShares{}, clk.Now))
	if err != nil {
		t.Fatalf("dpop.New: %v", err)
	}
	return v
}

// wantReason checks that err is a *domain.ProofError with reason want (or
// nil for "").
func wantReason(t *testing.T, err error, want domain.ProofReason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("got %v, want the proof accepted", err)
		}
		return
	}
	var pe *domain.ProofError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *domain.ProofError with reason %s", err, want)
	}
	if pe.Reason != want {
		t.Fatalf("got reason %s (%v), want %s", pe.Reason, err, want)
	}
}

// failingCache is a replay cache whose store fails with err.
type failingCache struct{ err error }

func (c failingCache) FirstSeen(context.Context, ports.ReplayKey, time.Duration) (bool, error) {
	return false, c.err
}

func (c failingCache) Ready(context.Context) error { return c.err }

// mustJSON is v as JSON, or fails the test.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustB64 decodes base64url s, or fails the test.
func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := decodeB64(s)
	if err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return b
}
