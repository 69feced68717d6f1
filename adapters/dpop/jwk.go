package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/example/spaapi/domain"
)

// RSA bounds for proof keys: a modulus of at least 2048 bits, as for the
// project's token keys (RFC 7518 §3.3), and at most 4096, the largest
// clients make (WebCrypto, platform key stores); an exponent of at most
// 65537, the one clients use. Verifying grows with the square of the
// modulus and with the exponent's length: an 8192-bit key with a 31-bit
// exponent would cost about 30 times a 2048-bit key with 65537.
const (
	minRSABits     = 2048
	maxRSABits     = 4096
	maxRSAExponent = 65537
)

// privateMembers are the JWK members that hold private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). A proof's jwk with
// any of them is refused (RFC 9449 §4.2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// curves are the EC curves a proof key may be on, with their JWK name and
// coordinate size in bytes (RFC 7518 §6.2.1.2: "the full size").
var curves = map[string]struct {
	curve elliptic.Curve
	size  int
}{
	"P-256": {elliptic.P256(), 32},
	"P-384": {elliptic.P384(), 48},
	"P-521": {elliptic.P521(), 66},
}

// proofKey is a proof's jwk, checked and ready to verify with.
type proofKey struct {
	key any    // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
	jkt string // the RFC 7638 SHA-256 thumbprint, base64url
}

// parseJWK checks that raw is a public JWK usable with alg and returns the
// key and its thumbprint. Errors are *domain.ProofError: ProofPrivateKey,
// ProofWeakKey, ProofKeyTooLarge or ProofKey.
func parseJWK(raw json.RawMessage, alg *algorithm) (proofKey, error) {
	var m map[string]json.RawMessage // exact member names: "D" is not "d"
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", errors.New("jwk is not a JSON object"))
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return proofKey{}, domain.InvalidProof(domain.ProofPrivateKey, "jwk", fmt.Errorf("jwk has private member %q", name))
		}
	}
	kty, err := member(m, "kty")
	if err != nil {
		return proofKey{}, err
	}
	if kty != alg.kty {
		return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", fmt.Errorf("key type %q cannot be used with %s", kty, alg.name))
	}
	// Optional members that restrict the key's use must allow this use.
	if _, ok := m["alg"]; ok {
		if a, err := member(m, "alg"); err != nil || !alg.named(a) {
			return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", fmt.Errorf("jwk alg is not %s", alg.name))
		}
	}
	if _, ok := m["use"]; ok {
		if u, err := member(m, "use"); err != nil || u != "sig" {
			return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", errors.New(`jwk use is not "sig"`))
		}
	}

	switch kty {
	case "EC":
		return parseEC(m, alg)
	case "RSA":
		return parseRSA(m)
	default: // "OKP", by alg.kty
		return parseOKP(m)
	}
}

func parseEC(m map[string]json.RawMessage, alg *algorithm) (proofKey, error) {
	crv, err := member(m, "crv")
	if err != nil {
		return proofKey{}, err
	}
	c, ok := curves[crv]
	if !ok || crv != alg.crv {
		return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", fmt.Errorf("curve %q cannot be used with %s", crv, alg.name))
	}
	x, xb, err := b64Member(m, "x")
	if err != nil {
		return proofKey{}, err
	}
	y, yb, err := b64Member(m, "y")
	if err != nil {
		return proofKey{}, err
	}
	if len(xb) != c.size || len(yb) != c.size {
		return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", errors.New("coordinates are not the curve's size"))
	}
	point := make([]byte, 0, 1+2*c.size)
	point = append(append(append(point, 4), xb...), yb...)
	pub, err := ecdsa.ParseUncompressedPublicKey(c.curve, point)
	if err != nil {
		return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", err)
	}
	// RFC 7638 §3.2: the required members, in lexicographic order.
	return proofKey{pub, thumbprint(`{"crv":"`, crv, `","kty":"EC","x":"`, x, `","y":"`, y, `"}`)}, nil
}

func parseRSA(m map[string]json.RawMessage) (proofKey, error) {
	n, nb, err := b64Member(m, "n")
	if err != nil {
		return proofKey{}, err
	}
	e, eb, err := b64Member(m, "e")
	if err != nil {
		return proofKey{}, err
	}
	// RFC 7518 §6.3.1: minimal big-endian encodings. Leading zeros would
	// give the same key another thumbprint than its issuer computed.
	if nb[0] == 0 || eb[0] == 0 || len(eb) > 4 {
		return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", errors.New("n or e not minimally encoded, or e too large"))
	}
	exp := 0
	for _, b := range eb {
		exp = exp<<8 | int(b)
	}
	if exp < 3 || exp&1 == 0 || exp > maxRSAExponent {
		return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", fmt.Errorf("exponent %d not accepted (odd, 3 to %d)", exp, maxRSAExponent))
	}
	if len(nb) > maxRSABits/8 { // refused before reading it as a number
		return proofKey{}, domain.InvalidProof(domain.ProofKeyTooLarge, "jwk", fmt.Errorf("RSA key of %d bytes (at most %d bits)", len(nb), maxRSABits))
	}
	mod := new(big.Int).SetBytes(nb)
	if bits := mod.BitLen(); bits < minRSABits {
		return proofKey{}, domain.InvalidProof(domain.ProofWeakKey, "jwk", fmt.Errorf("RSA key of %d bits (at least %d)", bits, minRSABits))
	}
	pub := &rsa.PublicKey{N: mod, E: exp}
	return proofKey{pub, thumbprint(`{"e":"`, e, `","kty":"RSA","n":"`, n, `"}`)}, nil
}

func parseOKP(m map[string]json.RawMessage) (proofKey, error) {
	crv, err := member(m, "crv")
	if err != nil {
		return proofKey{}, err
	}
	if crv != "Ed25519" {
		return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", fmt.Errorf("curve %q is not Ed25519", crv))
	}
	x, xb, err := b64Member(m, "x")
	if err != nil {
		return proofKey{}, err
	}
	if len(xb) != ed25519.PublicKeySize {
		return proofKey{}, domain.InvalidProof(domain.ProofKey, "jwk", errors.New("x is not an Ed25519 public key"))
	}
	return proofKey{ed25519.PublicKey(xb), thumbprint(`{"crv":"`, crv, `","kty":"OKP","x":"`, x, `"}`)}, nil
}

// member returns m[name] as a string. A missing or non-string member is a
// ProofKey error.
func member(m map[string]json.RawMessage, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", domain.InvalidProof(domain.ProofKey, "jwk", fmt.Errorf("jwk member %q missing", name))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", domain.InvalidProof(domain.ProofKey, "jwk", fmt.Errorf("jwk member %q is not a string", name))
	}
	return s, nil
}

// b64Member returns m[name], a non-empty base64url string without padding
// in its one canonical form, and its bytes. Since the string is canonical,
// it can go into a thumbprint as it is.
func b64Member(m map[string]json.RawMessage, name string) (string, []byte, error) {
	s, err := member(m, name)
	if err != nil {
		return "", nil, err
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) == 0 {
		return "", nil, domain.InvalidProof(domain.ProofKey, "jwk", fmt.Errorf("jwk member %q is not base64url", name))
	}
	return s, b, nil
}

// thumbprint returns the base64url SHA-256 of the concatenated parts: the
// RFC 7638 thumbprint when they spell the JWK's required members in
// lexicographic order with no whitespace. Callers only pass curve names
// from a fixed set and canonical base64url, so nothing needs escaping.
func thumbprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0]))
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint (base64url, as in
// cnf.jkt) of a public JWK given as JSON: an EC (P-256, P-384, P-521), RSA
// (2048 to 4096 bits, exponent at most 65537) or OKP Ed25519 key. Keys with private members are
// refused. Issuers binding tokens to a key (cnf.jkt) and tests use it.
func Thumbprint(jwk []byte) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(jwk, &m); err != nil {
		return "", fmt.Errorf("dpop: jwk is not a JSON object: %w", err)
	}
	kty, _ := member(m, "kty")
	var alg *algorithm
	switch kty {
	case "RSA":
		alg = algorithms["RS256"]
	case "OKP":
		alg = algorithms["EdDSA"]
	case "EC":
		crv, _ := member(m, "crv")
		for _, a := range algorithms {
			if a.kty == "EC" && a.crv == crv {
				alg = a
			}
		}
	}
	if alg == nil {
		return "", errors.New("dpop: jwk is not an EC, RSA or OKP Ed25519 key")
	}
	delete(m, "alg") // Thumbprint is not about one algorithm
	raw, _ := json.Marshal(m)
	k, err := parseJWK(raw, alg)
	if err != nil {
		return "", err
	}
	return k.jkt, nil
}
