package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Signer makes DPoP proofs with one private key, as a client does: for
// the api proof command, the development issuer's tests and the project's
// own tests. (The API only verifies proofs; Signer is the other side.)
type Signer struct {
	alg    *algorithm
	key    crypto.Signer
	header string // base64url of the proof header, the same for every proof
	jwk    json.RawMessage
	jkt    string
}

// NewSigner returns a Signer for key (an *ecdsa.PrivateKey, *rsa.PrivateKey
// or ed25519.PrivateKey) signing with alg, which must fit the key (ES256
// for a P-256 key, RS256 or PS256 for RSA, EdDSA or Ed25519 for Ed25519).
func NewSigner(key crypto.Signer, alg string) (*Signer, error) {
	a, ok := algorithms[alg]
	if !ok {
		return nil, fmt.Errorf("dpop: %q is not a supported algorithm", alg)
	}
	jwk, err := PublicJWK(key.Public())
	if err != nil {
		return nil, err
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return nil, err
	}
	// The key must fit the algorithm, or every proof would be refused.
	if _, err := parseJWK(jwk, a); err != nil {
		return nil, fmt.Errorf("dpop: the key cannot sign %s: %w", alg, err)
	}
	h, err := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": jwk})
	if err != nil {
		return nil, err
	}
	return &Signer{alg: a, key: key, header: base64.RawURLEncoding.EncodeToString(h), jwk: jwk, jkt: jkt}, nil
}

// GenerateSigner returns a Signer with a new key for alg: P-256 for ES256,
// P-384 for ES384, P-521 for ES512, RSA-2048 for RS* and PS*, Ed25519 for
// EdDSA and Ed25519.
func GenerateSigner(alg string) (*Signer, error) {
	a, ok := algorithms[alg]
	if !ok {
		return nil, fmt.Errorf("dpop: %q is not a supported algorithm", alg)
	}
	var key crypto.Signer
	var err error
	switch a.kty {
	case "EC":
		key, err = ecdsa.GenerateKey(curves[a.crv].curve, rand.Reader)
	case "RSA":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	return NewSigner(key, alg)
}

// JKT returns the key's RFC 7638 thumbprint: the cnf.jkt of tokens bound to it.
func (s *Signer) JKT() string { return s.jkt }

// JWK returns the public key as a JWK.
func (s *Signer) JWK() json.RawMessage { return s.jwk }

// Proof returns a proof for a request: method, url (query and fragment are
// dropped, as RFC 9449 §4.2 asks), the access token it comes with ("" for
// none, as at a token endpoint, which leaves "ath" out), and the server's
// nonce ("" for none), issued at now, with a random jti.
func (s *Signer) Proof(method, url, accessToken, nonce string, now time.Time) (string, error) {
	if i := strings.IndexAny(url, "?#"); i >= 0 {
		url = url[:i]
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
		"htm": method,
		"htu": url,
		"iat": now.Unix(),
	}
	if accessToken != "" {
		claims["ath"] = AccessTokenHash(accessToken)
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return s.Sign(claims)
}

// Sign returns a proof with these claims, as they are: for tests that need
// a proof no client would make.
func (s *Signer) Sign(claims map[string]any) (string, error) {
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := s.header + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := s.alg.method.Sign(input, s.key)
	if err != nil {
		return "", fmt.Errorf("dpop: signing: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// PublicJWK returns pub as a JWK with its required members only: an EC
// key on P-256, P-384 or P-521, an RSA key, or an Ed25519 key.
func PublicJWK(pub crypto.PublicKey) (json.RawMessage, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var m map[string]string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		var crv string
		for name, c := range curves {
			if c.curve == k.Curve {
				crv = name
			}
		}
		if crv == "" {
			return nil, errors.New("dpop: an EC key not on P-256, P-384 or P-521")
		}
		point, err := k.Bytes() // 0x04 ‖ X ‖ Y, each the curve's full size
		if err != nil {
			return nil, fmt.Errorf("dpop: %w", err)
		}
		size := curves[crv].size
		m = map[string]string{"kty": "EC", "crv": crv, "x": b64(point[1 : 1+size]), "y": b64(point[1+size:])}
	case *rsa.PublicKey:
		e := minimalBytes(k.E)
		m = map[string]string{"kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(e)}
	case ed25519.PublicKey:
		m = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(k)}
	default:
		return nil, fmt.Errorf("dpop: unsupported key type %T", pub)
	}
	return json.Marshal(m)
}

// minimalBytes returns e as a minimal big-endian byte string.
func minimalBytes(e int) []byte {
	var b []byte
	for ; e > 0; e >>= 8 {
		b = append([]byte{byte(e)}, b...)
	}
	return b
}
