package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Proofs from every default algorithm are accepted.
func TestAcceptsGoodProofs(t *testing.T) {
	clk := &clock{t: testNow}
	v := newVerifier(t, clk, nil)
	for _, alg := range dpop.DefaultAlgorithms {
		t.Run(alg, func(t *testing.T) {
			k := testKey(t, alg)
			wantReason(t, v.VerifyProof(context.Background(), request(k, proof(t, k, testNow))), "")
		})
	}
	t.Run("ES512 when configured", func(t *testing.T) {
		v := newVerifier(t, clk, func(c *dpop.Config) { c.Algorithms = []string{"ES512"} })
		k := testKey(t, "ES512")
		wantReason(t, v.VerifyProof(context.Background(), request(k, proof(t, k, testNow))), "")
	})
}

// hostile is one request built to be refused (or, where the RFC says so,
// accepted).
type hostile struct {
	name string
	req  func(t *testing.T) ports.ProofRequest
	want domain.ProofReason // "" = accepted
}

// withClaims returns a request whose proof by ES256 has the good claims
// changed by edit (a nil value deletes the claim).
func withClaims(edit map[string]any) func(t *testing.T) ports.ProofRequest {
	return func(t *testing.T) ports.ProofRequest {
		k := testKey(t, "ES256")
		c := claims(testNow)
		for name, v := range edit {
			if v == nil {
				delete(c, name)
			} else {
				c[name] = v
			}
		}
		return request(k, sign(t, header(k), c, k.alg, k.signer))
	}
}

// withHeader returns a request whose proof by ES256 has the good header
// changed by edit (a nil value deletes the parameter), signed by the key.
func withHeader(edit map[string]any) func(t *testing.T) ports.ProofRequest {
	return func(t *testing.T) ports.ProofRequest {
		k := testKey(t, "ES256")
		h := header(k)
		for name, v := range edit {
			if v == nil {
				delete(h, name)
			} else {
				h[name] = v
			}
		}
		return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
	}
}

// withJWK returns a request whose ES256 proof carries jwk (from k's) as its
// key, signed by k.
func withJWK(name string, edit func(k *key, jwk map[string]any)) func(t *testing.T) ports.ProofRequest {
	return func(t *testing.T) ports.ProofRequest {
		k := testKey(t, name)
		jwk := clone(k.jwk)
		edit(k, jwk)
		h := header(k)
		h["jwk"] = jwk
		return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
	}
}

// raw returns a request carrying proof as given.
func raw(mk func(t *testing.T) string) func(t *testing.T) ports.ProofRequest {
	return func(t *testing.T) ports.ProofRequest {
		return request(testKey(t, "ES256"), mk(t))
	}
}

// twice returns a request whose ES256 proof has first (a member and a
// comma) before the good header's or claims' own members, signed.
func twice(inHeader bool, first string) func(t *testing.T) ports.ProofRequest {
	return func(t *testing.T) ports.ProofRequest {
		k := testKey(t, "ES256")
		h, c := json.RawMessage(mustJSON(t, header(k))), json.RawMessage(mustJSON(t, claims(testNow)))
		if inHeader {
			h = append(json.RawMessage("{"+first), h[1:]...)
		} else {
			c = append(json.RawMessage("{"+first), c[1:]...)
		}
		return request(k, sign(t, h, c, k.alg, k.signer))
	}
}

// segments returns the three segments of a good ES256 proof.
func segments(t *testing.T) (h, c, s string) {
	parts := strings.Split(proof(t, testKey(t, "ES256"), testNow), ".")
	return parts[0], parts[1], parts[2]
}

// hmacProof returns a proof "signed" with HS256 under secret.
func hmacProof(t testing.TB, secret []byte) string {
	k := testKey(t, "ES256")
	h := header(k)
	h["alg"] = "HS256"
	input := b64(mustJSON(t, h)) + "." + b64(mustJSON(t, claims(testNow)))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}

func TestHostileProofs(t *testing.T) {
	es := func(t *testing.T) *key { return testKey(t, "ES256") }
	cases := []hostile{
		// The DPoP header field.
		{"two DPoP headers", func(t *testing.T) ports.ProofRequest {
			return request(es(t), proof(t, es(t), testNow), proof(t, es(t), testNow))
		}, domain.ProofMultiple},
		{"two DPoP headers, one empty", func(t *testing.T) ports.ProofRequest {
			return request(es(t), proof(t, es(t), testNow), "")
		}, domain.ProofMultiple},
		{"no DPoP header", func(t *testing.T) ports.ProofRequest { return request(es(t)) }, domain.ProofMissing},
		{"empty DPoP header", func(t *testing.T) ports.ProofRequest { return request(es(t), "") }, domain.ProofMissing},
		{"oversized proof", withClaims(map[string]any{"pad": strings.Repeat("x", dpop.DefaultMaxProofBytes)}), domain.ProofTooLarge},

		// Compact JWS syntax.
		{"extra dots", raw(func(t *testing.T) string { h, c, s := segments(t); return h + "." + c + "." + s + "." }), domain.ProofMalformed},
		{"four segments", raw(func(t *testing.T) string { h, c, s := segments(t); return h + "." + c + "." + s + "." + s }), domain.ProofMalformed},
		{"two segments", raw(func(t *testing.T) string { h, c, _ := segments(t); return h + "." + c }), domain.ProofMalformed},
		{"empty signature (alg none style)", raw(func(t *testing.T) string { h, c, _ := segments(t); return h + "." + c + "." }), domain.ProofMalformed},
		{"double dot", raw(func(t *testing.T) string { h, _, s := segments(t); return h + ".." + s }), domain.ProofMalformed},
		{"padding on the signature", raw(func(t *testing.T) string { h, c, s := segments(t); return h + "." + c + "." + s + "==" }), domain.ProofMalformed},
		{"padding on the header", raw(func(t *testing.T) string { h, c, s := segments(t); return h + "=." + c + "." + s }), domain.ProofMalformed},
		{"standard base64 characters", raw(func(t *testing.T) string {
			h, c, s := segments(t)
			return h + "." + c + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s) + "+/"
		}), domain.ProofMalformed},
		{"line break inside", raw(func(t *testing.T) string { h, c, s := segments(t); return h[:4] + "\n" + h[4:] + "." + c + "." + s }), domain.ProofMalformed},
		{"space inside", raw(func(t *testing.T) string { h, c, s := segments(t); return h + "." + c + ". " + s }), domain.ProofMalformed},
		{"header not JSON", raw(func(t *testing.T) string {
			_, c, s := segments(t)
			return b64([]byte("typ=dpop+jwt")) + "." + c + "." + s
		}), domain.ProofMalformed},
		{"header a JSON array", raw(func(t *testing.T) string {
			_, c, s := segments(t)
			return b64([]byte(`["dpop+jwt"]`)) + "." + c + "." + s
		}), domain.ProofMalformed},
		{"header null", raw(func(t *testing.T) string { _, c, s := segments(t); return b64([]byte(`null`)) + "." + c + "." + s }), domain.ProofMalformed},
		{"payload not JSON", raw(func(t *testing.T) string { h, _, s := segments(t); return h + "." + b64([]byte("{")) + "." + s }), domain.ProofMalformed},
		{"a JWE (five segments)", raw(func(t *testing.T) string { h, c, s := segments(t); return h + ".." + c + "." + s + "." + s }), domain.ProofMalformed},

		// A name given twice: the last is the good one, and the proof is
		// signed, so keeping the last would accept it.
		{"a claim given twice (htu)", twice(false, `"htu":"https://evil.example/api/private",`), domain.ProofMalformed},
		{"a claim given twice, once escaped (h\\u0074u)", twice(false, `"h\u0074u":"https://evil.example/api/private",`), domain.ProofMalformed},
		{"a header parameter given twice (alg)", twice(true, `"alg":"ES384",`), domain.ProofMalformed},
		{"a header parameter given twice (jwk)", twice(true, `"jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"},`), domain.ProofMalformed},

		// typ.
		{"typ missing", withHeader(map[string]any{"typ": nil}), domain.ProofType},
		{"typ JWT", withHeader(map[string]any{"typ": "JWT"}), domain.ProofType},
		{"typ in other case", withHeader(map[string]any{"typ": "DPoP+JWT"}), domain.ProofType},
		{"typ with media type prefix", withHeader(map[string]any{"typ": "application/dpop+jwt"}), domain.ProofType},
		{"typ at+jwt (an access token)", withHeader(map[string]any{"typ": "at+jwt"}), domain.ProofType},
		{"typ not a string", withHeader(map[string]any{"typ": 1}), domain.ProofType},
		{"typ under another case of its name", withHeader(map[string]any{"typ": nil, "TYP": "dpop+jwt"}), domain.ProofType},

		// alg.
		{"alg none, with a signature", raw(func(t *testing.T) string {
			k := es(t)
			h := header(k)
			h["alg"] = "none"
			return b64(mustJSON(t, h)) + "." + b64(mustJSON(t, claims(testNow))) + "." + b64([]byte("sig"))
		}), domain.ProofAlgorithm},
		{"alg HS256 keyed with the jwk's x", raw(func(t *testing.T) string {
			return hmacProof(t, []byte(es(t).jwk["x"].(string)))
		}), domain.ProofAlgorithm},
		{"alg HS256 keyed with the whole jwk", raw(func(t *testing.T) string {
			return hmacProof(t, mustJSON(t, es(t).jwk))
		}), domain.ProofAlgorithm},
		{"alg missing", withHeader(map[string]any{"alg": nil}), domain.ProofAlgorithm},
		{"alg not a string", withHeader(map[string]any{"alg": []string{"ES256"}}), domain.ProofAlgorithm},
		{"alg es256 (case)", withHeader(map[string]any{"alg": "es256"}), domain.ProofAlgorithm},
		{"alg ES512, not allowed by default", func(t *testing.T) ports.ProofRequest {
			k := testKey(t, "ES512")
			return request(k, proof(t, k, testNow))
		}, domain.ProofAlgorithm},
		{"crit header", withHeader(map[string]any{"crit": []string{"exp"}, "exp": 1}), domain.ProofCritical},

		// jwk.
		{"jwk missing", withHeader(map[string]any{"jwk": nil}), domain.ProofKey},
		{"jwk not an object", withHeader(map[string]any{"jwk": "key"}), domain.ProofKey},
		{"jwk null", withHeader(map[string]any{"jwk": json.RawMessage("null")}), domain.ProofKey},
		{"jwk with d (EC private key)", withJWK("ES256", func(k *key, j map[string]any) {
			for n, v := range privateJWK(k) {
				j[n] = v
			}
		}), domain.ProofPrivateKey},
		{"jwk with d, p, q (RSA private key)", func(t *testing.T) ports.ProofRequest {
			k := testKey(t, "RS256")
			h := header(k)
			h["jwk"] = privateJWK(k)
			return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
		}, domain.ProofPrivateKey},
		{"jwk with d (Ed25519 private key)", func(t *testing.T) ports.ProofRequest {
			k := testKey(t, "EdDSA")
			h := header(k)
			h["jwk"] = privateJWK(k)
			return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
		}, domain.ProofPrivateKey},
		{"jwk with k (symmetric key)", withJWK("ES256", func(_ *key, j map[string]any) { j["k"] = "c2VjcmV0" }), domain.ProofPrivateKey},
		{"jwk kty oct", withJWK("ES256", func(_ *key, j map[string]any) {
			clear(j)
			j["kty"], j["k"] = "oct", "c2VjcmV0"
		}), domain.ProofPrivateKey},
		{"RSA 1024-bit jwk", func(t *testing.T) ports.ProofRequest {
			k := testKey(t, "RSA1024")
			return request(k, proof(t, k, testNow))
		}, domain.ProofWeakKey},
		{"kty RSA under ES256", func(t *testing.T) ports.ProofRequest {
			k, rsaKey := es(t), testKey(t, "RS256")
			h := header(k)
			h["jwk"] = rsaKey.jwk
			return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
		}, domain.ProofKey},
		{"P-384 key under ES256", func(t *testing.T) ports.ProofRequest {
			k, p384 := es(t), testKey(t, "ES384")
			h := header(k)
			h["jwk"] = p384.jwk
			return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
		}, domain.ProofKey},
		{"jwk crv missing", withJWK("ES256", func(_ *key, j map[string]any) { delete(j, "crv") }), domain.ProofKey},
		{"jwk y missing", withJWK("ES256", func(_ *key, j map[string]any) { delete(j, "y") }), domain.ProofKey},
		{"jwk kty in other case", withJWK("ES256", func(_ *key, j map[string]any) { j["kty"] = "ec" }), domain.ProofKey},
		{"jwk point not on the curve", withJWK("ES256", func(_ *key, j map[string]any) {
			y := []byte(j["y"].(string))
			y[5] ^= 1
			j["y"] = string(y)
		}), domain.ProofKey},
		{"jwk x short (leading zeros dropped)", withJWK("ES256", func(_ *key, j map[string]any) { j["x"] = b64([]byte{1, 2, 3}) }), domain.ProofKey},
		{"jwk x padded", withJWK("ES256", func(_ *key, j map[string]any) { j["x"] = j["x"].(string) + "=" }), domain.ProofKey},
		{"jwk x not a string", withJWK("ES256", func(_ *key, j map[string]any) { j["x"] = 5 }), domain.ProofKey},
		{"RSA jwk n with a leading zero octet", func(t *testing.T) ports.ProofRequest {
			k := testKey(t, "RS256")
			h := header(k)
			jwk := clone(k.jwk)
			n := mustB64(t, jwk["n"].(string))
			jwk["n"] = b64(append([]byte{0}, n...))
			h["jwk"] = jwk
			return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
		}, domain.ProofKey},
		{"RSA jwk e = 1", func(t *testing.T) ports.ProofRequest {
			k := testKey(t, "RS256")
			h := header(k)
			jwk := clone(k.jwk)
			jwk["e"] = "AQ"
			h["jwk"] = jwk
			return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
		}, domain.ProofKey},
		{"OKP X25519 key", func(t *testing.T) ports.ProofRequest {
			k := testKey(t, "EdDSA")
			h := header(k)
			jwk := clone(k.jwk)
			jwk["crv"] = "X25519"
			h["jwk"] = jwk
			return request(k, sign(t, h, claims(testNow), k.alg, k.signer))
		}, domain.ProofKey},
		{"jwk alg for another algorithm", withJWK("ES256", func(_ *key, j map[string]any) { j["alg"] = "ES384" }), domain.ProofKey},
		{"jwk use enc", withJWK("ES256", func(_ *key, j map[string]any) { j["use"] = "enc" }), domain.ProofKey},
		{"jwk alg and use that fit", withJWK("ES256", func(_ *key, j map[string]any) { j["alg"], j["use"], j["kid"] = "ES256", "sig", "k1" }), ""},

		// Signature.
		{"signed by another key than its jwk", func(t *testing.T) ports.ProofRequest {
			k, other := es(t), testKey(t, "ES256-other")
			return request(k, sign(t, header(k), claims(testNow), "ES256", other.signer))
		}, domain.ProofSignature},
		{"signature bit flipped", raw(func(t *testing.T) string {
			h, c, s := segments(t)
			sb := mustB64(t, s)
			sb[10] ^= 1
			return h + "." + c + "." + b64(sb)
		}), domain.ProofSignature},
		{"signature of another proof", raw(func(t *testing.T) string {
			h, c, _ := segments(t)
			_, _, s := segments(t)
			return h + "." + c + "." + s
		}), domain.ProofSignature},
		{"signature too short", raw(func(t *testing.T) string { h, c, s := segments(t); return h + "." + c + "." + s[:40] }), domain.ProofSignature},
		{"payload changed after signing (another jti)", raw(func(t *testing.T) string {
			h, _, s := segments(t)
			return h + "." + b64(mustJSON(t, claims(testNow))) + "." + s
		}), domain.ProofSignature},
		{"jwk swapped for another key after signing, token bound to that key", func(t *testing.T) ports.ProofRequest {
			_, c, s := segments(t)
			other := testKey(t, "ES256-other")
			return request(other, b64(mustJSON(t, header(other)))+"."+c+"."+s)
		}, domain.ProofSignature},
		{"jwk swapped for another key after signing, token bound to the signer", raw(func(t *testing.T) string {
			_, c, s := segments(t)
			return b64(mustJSON(t, header(testKey(t, "ES256-other")))) + "." + c + "." + s
		}), domain.ProofKeyMismatch},

		// Claims present, of the right type.
		{"jti missing", withClaims(map[string]any{"jti": nil}), domain.ProofMissingClaim},
		{"htm missing", withClaims(map[string]any{"htm": nil}), domain.ProofMissingClaim},
		{"htu missing", withClaims(map[string]any{"htu": nil}), domain.ProofMissingClaim},
		{"iat missing", withClaims(map[string]any{"iat": nil}), domain.ProofMissingClaim},
		{"ath missing", withClaims(map[string]any{"ath": nil}), domain.ProofMissingClaim},
		{"jti under another case of its name", withClaims(map[string]any{"jti": nil, "JTI": "x"}), domain.ProofMissingClaim},
		{"jti empty", withClaims(map[string]any{"jti": ""}), domain.ProofClaimType},
		{"jti a number", withClaims(map[string]any{"jti": 12345}), domain.ProofClaimType},
		{"jti too long", withClaims(map[string]any{"jti": strings.Repeat("j", dpop.DefaultMaxJTIBytes+1)}), domain.ProofClaimType},
		{"jti at the length cap", withClaims(map[string]any{"jti": strings.Repeat("j", dpop.DefaultMaxJTIBytes)}), ""},
		{"iat a string", withClaims(map[string]any{"iat": fmt.Sprint(testNow.Unix())}), domain.ProofClaimType},
		{"iat null", withClaims(map[string]any{"iat": json.RawMessage("null")}), domain.ProofClaimType},
		{"htu not a string", withClaims(map[string]any{"htu": map[string]any{"href": testURL}}), domain.ProofClaimType},
		{"nonce not a string", withClaims(map[string]any{"nonce": 7}), domain.ProofClaimType},

		// htm.
		{"htm POST for a GET", withClaims(map[string]any{"htm": "POST"}), domain.ProofMethod},
		{"htm in lower case", withClaims(map[string]any{"htm": "get"}), domain.ProofMethod},

		// htu: refused.
		{"htu another path", withClaims(map[string]any{"htu": "https://api.example.com/api/public"}), domain.ProofURL},
		{"htu another host", withClaims(map[string]any{"htu": "https://evil.example.com/api/private"}), domain.ProofURL},
		{"htu http instead of https", withClaims(map[string]any{"htu": "http://api.example.com/api/private"}), domain.ProofURL},
		{"htu another port", withClaims(map[string]any{"htu": "https://api.example.com:8443/api/private"}), domain.ProofURL},
		{"htu port 80 on https", withClaims(map[string]any{"htu": "https://api.example.com:80/api/private"}), domain.ProofURL},
		{"htu path in other case", withClaims(map[string]any{"htu": "https://api.example.com/API/private"}), domain.ProofURL},
		{"htu trailing slash", withClaims(map[string]any{"htu": "https://api.example.com/api/private/"}), domain.ProofURL},
		{"htu with user information", withClaims(map[string]any{"htu": "https://alice@api.example.com/api/private"}), domain.ProofURL},
		{"htu relative", withClaims(map[string]any{"htu": "/api/private"}), domain.ProofURL},
		{"htu empty", withClaims(map[string]any{"htu": ""}), domain.ProofURL},
		{"htu with an encoded slash", withClaims(map[string]any{"htu": "https://api.example.com/api%2Fprivate"}), domain.ProofURL},
		{"htu bad percent-encoding", withClaims(map[string]any{"htu": "https://api.example.com/api/private%zz"}), domain.ProofURL},
		{"htu another scheme", withClaims(map[string]any{"htu": "wss://api.example.com/api/private"}), domain.ProofURL},
		// htu: the same URL after normalisation (RFC 9449 §4.3: RFC 3986
		// §6.2.2 and §6.2.3), or with a query or fragment, which are ignored.
		{"htu scheme and host in upper case", withClaims(map[string]any{"htu": "HTTPS://API.Example.COM/api/private"}), ""},
		{"htu with the default port", withClaims(map[string]any{"htu": "https://api.example.com:443/api/private"}), ""},
		{"htu with an empty port", withClaims(map[string]any{"htu": "https://api.example.com:/api/private"}), ""},
		{"htu with a query", withClaims(map[string]any{"htu": "https://api.example.com/api/private?page=2"}), ""},
		{"htu with a fragment", withClaims(map[string]any{"htu": "https://api.example.com/api/private#top"}), ""},
		{"htu with encoded unreserved characters", withClaims(map[string]any{"htu": "https://api.example.com/%61pi/priv%61te"}), ""},
		{"htu with dot segments", withClaims(map[string]any{"htu": "https://api.example.com/api/x/../private"}), ""},

		// iat window: [now-300s, now+30s] by default.
		{"iat 300s old (the limit)", withClaims(map[string]any{"iat": testNow.Unix() - 300}), ""},
		{"iat 301s old", withClaims(map[string]any{"iat": testNow.Unix() - 301}), domain.ProofTooOld},
		{"iat 300.5s old", withClaims(map[string]any{"iat": float64(testNow.Unix()) - 300.5}), domain.ProofTooOld},
		{"iat a day old", withClaims(map[string]any{"iat": testNow.Unix() - 86400}), domain.ProofTooOld},
		{"iat 0", withClaims(map[string]any{"iat": 0}), domain.ProofTooOld},
		{"iat 30s ahead (the limit)", withClaims(map[string]any{"iat": testNow.Unix() + 30}), ""},
		{"iat 31s ahead", withClaims(map[string]any{"iat": testNow.Unix() + 31}), domain.ProofFuture},
		{"iat 30.5s ahead", withClaims(map[string]any{"iat": float64(testNow.Unix()) + 30.5}), domain.ProofFuture},
		{"iat far in the future", withClaims(map[string]any{"iat": 1e300}), domain.ProofFuture},
		{"iat with a fraction, inside", withClaims(map[string]any{"iat": float64(testNow.Unix()) - 0.25}), ""},

		// ath.
		{"ath of another token", withClaims(map[string]any{"ath": dpop.AccessTokenHash(testToken + "x")}), domain.ProofAccessToken},
		{"ath with padding", withClaims(map[string]any{"ath": dpop.AccessTokenHash(testToken) + "="}), domain.ProofAccessToken},
		{"ath in hex", withClaims(map[string]any{"ath": fmt.Sprintf("%x", sha256.Sum256([]byte(testToken)))}), domain.ProofAccessToken},
		{"ath of the token with its scheme", withClaims(map[string]any{"ath": dpop.AccessTokenHash("DPoP " + testToken)}), domain.ProofAccessToken},
		{"ath empty", withClaims(map[string]any{"ath": ""}), domain.ProofAccessToken},

		// The access token's binding (cnf.jkt).
		{"token without cnf.jkt", func(t *testing.T) ports.ProofRequest {
			r := request(es(t), proof(t, es(t), testNow))
			r.JKT = ""
			return r
		}, domain.ProofNotBound},
		{"token bound to another key", func(t *testing.T) ports.ProofRequest {
			r := request(es(t), proof(t, es(t), testNow))
			r.JKT = testKey(t, "ES256-other").jkt
			return r
		}, domain.ProofKeyMismatch},
		{"token bound to the key, thumbprint in other case", func(t *testing.T) ports.ProofRequest {
			r := request(es(t), proof(t, es(t), testNow))
			r.JKT = strings.ToUpper(r.JKT)
			return r
		}, domain.ProofKeyMismatch},
		{"a proof by a thief's key for a stolen token", func(t *testing.T) ports.ProofRequest {
			thief := testKey(t, "ES256-other")
			r := request(es(t), proof(t, thief, testNow))
			return r
		}, domain.ProofKeyMismatch},

		// The request the proof is checked against.
		{"request URL unknown", func(t *testing.T) ports.ProofRequest {
			r := request(es(t), proof(t, es(t), testNow))
			r.URL = ""
			return r
		}, domain.ProofURL},
		{"request method HEAD, proof for GET", func(t *testing.T) ports.ProofRequest {
			r := request(es(t), proof(t, es(t), testNow))
			r.Method = "HEAD"
			return r
		}, domain.ProofMethod},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: testNow}
			v := newVerifier(t, clk, nil)
			wantReason(t, v.VerifyProof(context.Background(), tc.req(t)), tc.want)
		})
	}
}

func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(s)
}

// Each reason maps to the answer RFC 9449 and RFC 6750 give it, and wraps
// the domain sentinel the HTTP layer keys on.
func TestErrorCodes(t *testing.T) {
	clk := &clock{t: testNow}
	v := newVerifier(t, clk, nil)
	k := testKey(t, "ES256")
	ctx := context.Background()

	err := v.VerifyProof(ctx, request(k, proof(t, k, testNow), proof(t, k, testNow)))
	var pe *domain.ProofError
	if !errors.As(err, &pe) || pe.Code() != "invalid_request" || !errors.Is(err, domain.ErrInvalidRequest) {
		t.Fatalf("two headers: got %v, want invalid_request wrapping ErrInvalidRequest", err)
	}
	err = v.VerifyProof(ctx, request(k, "x.y.z"))
	if !errors.As(err, &pe) || pe.Code() != "invalid_dpop_proof" || !errors.Is(err, domain.ErrInvalidToken) {
		t.Fatalf("garbage: got %v, want invalid_dpop_proof wrapping ErrInvalidToken", err)
	}
	r := request(k, proof(t, k, testNow))
	r.JKT = ""
	err = v.VerifyProof(ctx, r)
	if !errors.As(err, &pe) || pe.Code() != "invalid_token" || !errors.Is(err, domain.ErrInvalidToken) {
		t.Fatalf("unbound token: got %v, want invalid_token", err)
	}
	if got, want := pe.Describe(), "access token is not bound to a DPoP key: cnf.jkt"; got != want {
		t.Fatalf("description: got %q, want %q", got, want)
	}
}

func TestReplayedProofIsRefused(t *testing.T) {
	clk := &clock{t: testNow}
	v := newVerifier(t, clk, nil)
	k := testKey(t, "ES256")
	ctx := context.Background()
	p := proof(t, k, testNow)
	wantReason(t, v.VerifyProof(ctx, request(k, p)), "")
	wantReason(t, v.VerifyProof(ctx, request(k, p)), domain.ProofReplayed)

	// Still refused at the end of its window, and by then too old anyway.
	clk.Add(dpop.DefaultIATOffset)
	wantReason(t, v.VerifyProof(ctx, request(k, p)), domain.ProofReplayed)
	clk.Add(time.Second)
	wantReason(t, v.VerifyProof(ctx, request(k, p)), domain.ProofTooOld)

	// A new proof with the same jti by the same key is a replay too; the
	// same jti by another key is not (jtis are per key).
	c := claims(testNow)
	c["jti"] = "shared-jti"
	clk.Set(testNow)
	other := testKey(t, "ES256-other")
	wantReason(t, v.VerifyProof(ctx, request(k, sign(t, header(k), c, "ES256", k.signer))), "")
	c["htu"] = "https://api.example.com:443/api/private"
	wantReason(t, v.VerifyProof(ctx, request(k, sign(t, header(k), c, "ES256", k.signer))), domain.ProofReplayed)
	wantReason(t, v.VerifyProof(ctx, request(other, sign(t, header(other), c, "ES256", other.signer))), "")
}

// A proof from 30 s in the future (the leeway) is remembered until it is
// too old, so it cannot be replayed in between.
func TestReplayWindowCoversTheLeeway(t *testing.T) {
	clk := &clock{t: testNow}
	v := newVerifier(t, clk, nil)
	k := testKey(t, "ES256")
	ctx := context.Background()
	c := claims(testNow)
	c["iat"] = testNow.Unix() + 30
	p := sign(t, header(k), c, "ES256", k.signer)
	wantReason(t, v.VerifyProof(ctx, request(k, p)), "")
	clk.Add(330 * time.Second) // iat + 300 s: the proof's last accepted second
	wantReason(t, v.VerifyProof(ctx, request(k, p)), domain.ProofReplayed)
}

// When the replay store cannot answer, the proof is refused (503), never
// accepted unchecked, and a replay is never reported as "unavailable" alone.
func TestReplayStoreUnavailable(t *testing.T) {
	clk := &clock{t: testNow}
	k := testKey(t, "ES256")
	for _, cause := range []error{
		fmt.Errorf("redis: %w: dial tcp: connection refused", domain.ErrUnavailable),
		errors.New("some other failure"),
	} {
		cfg := dpop.DefaultConfig()
		cfg.Now = clk.Now
		v, err := dpop.New(cfg, failingCache{cause})
		if err != nil {
			t.Fatal(err)
		}
		err = v.VerifyProof(context.Background(), request(k, proof(t, k, testNow)))
		wantReason(t, err, domain.ProofUnavailable)
		var pe *domain.ProofError
		errors.As(err, &pe)
		if !errors.Is(err, domain.ErrUnavailable) || errors.Is(err, domain.ErrInvalidToken) || pe.Code() != "temporarily_unavailable" {
			t.Fatalf("got %v (code %s), want temporarily_unavailable wrapping only ErrUnavailable", err, pe.Code())
		}
	}
}

func TestNonces(t *testing.T) {
	clk := &clock{t: testNow}
	secret := []byte(strings.Repeat("s", 32))
	v := newVerifier(t, clk, func(c *dpop.Config) { c.NonceSecret = secret; c.NonceWindow = time.Minute })
	k := testKey(t, "ES256")
	ctx := context.Background()
	withNonce := func(nonce any) ports.ProofRequest {
		c := claims(clk.Now())
		if nonce != nil {
			c["nonce"] = nonce
		}
		return request(k, sign(t, header(k), c, "ES256", k.signer))
	}

	current := v.Nonce()
	if len(current) != 32 {
		t.Fatalf("Nonce(): got %q, want 32 characters", current)
	}
	if again := v.Nonce(); again != current {
		t.Fatalf("Nonce() twice in a window: got %q then %q", current, again)
	}
	wantReason(t, v.VerifyProof(ctx, withNonce(current)), "")
	wantReason(t, v.VerifyProof(ctx, withNonce(nil)), domain.ProofNonceMissing)
	wantReason(t, v.VerifyProof(ctx, withNonce("")), domain.ProofNonceMissing)

	// Forged: random bytes of the right shape; a nonce of another secret;
	// our nonce with its window changed; with one character changed.
	random := make([]byte, 24)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	wantReason(t, v.VerifyProof(ctx, withNonce(b64(random))), domain.ProofNonceInvalid)
	otherSecret, err := dpop.NewNonces([]byte(strings.Repeat("t", 32)), time.Minute, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, v.VerifyProof(ctx, withNonce(otherSecret.Current())), domain.ProofNonceInvalid)
	nb := mustB64(t, current)
	nb[7]++
	wantReason(t, v.VerifyProof(ctx, withNonce(b64(nb))), domain.ProofNonceInvalid)
	flipped := []byte(current)
	flipped[20] ^= 'A' ^ 'B'
	wantReason(t, v.VerifyProof(ctx, withNonce(string(flipped))), domain.ProofNonceInvalid)
	wantReason(t, v.VerifyProof(ctx, withNonce(current+"A")), domain.ProofNonceInvalid)
	wantReason(t, v.VerifyProof(ctx, withNonce(current+"=")), domain.ProofNonceInvalid)

	// Next window: the nonce changes; the previous one is still accepted.
	clk.Add(time.Minute)
	next := v.Nonce()
	if next == current {
		t.Fatal("Nonce() did not change with the window")
	}
	wantReason(t, v.VerifyProof(ctx, withNonce(current)), "")
	wantReason(t, v.VerifyProof(ctx, withNonce(next)), "")
	// Two windows on: stale.
	clk.Add(time.Minute)
	wantReason(t, v.VerifyProof(ctx, withNonce(current)), domain.ProofNonceStale)
	wantReason(t, v.VerifyProof(ctx, withNonce(next)), "")

	// Another instance with the same secret agrees, with no shared state.
	other := newVerifier(t, clk, func(c *dpop.Config) { c.NonceSecret = secret; c.NonceWindow = time.Minute })
	if other.Nonce() != v.Nonce() {
		t.Fatalf("two instances with one secret: got nonces %q and %q, want the same", other.Nonce(), v.Nonce())
	}

	// A proof refused for its nonce does not burn its jti: the retry with the
	// nonce is accepted. (Each retry has a new jti anyway, but a client
	// whose first proof lacked the nonce is not punished for it.)
	c := claims(clk.Now())
	wantReason(t, v.VerifyProof(ctx, request(k, sign(t, header(k), c, "ES256", k.signer))), domain.ProofNonceMissing)
	c["nonce"] = v.Nonce()
	wantReason(t, v.VerifyProof(ctx, request(k, sign(t, header(k), c, "ES256", k.signer))), "")

	// Nonces off: none is asked for, and one sent anyway is ignored.
	off := newVerifier(t, clk, nil)
	if off.Nonce() != "" {
		t.Fatalf("Nonce() with nonces off: got %q, want \"\"", off.Nonce())
	}
	wantReason(t, off.VerifyProof(ctx, withNonce("whatever")), "")
}

func TestNoncesWindowBoundaries(t *testing.T) {
	clk := &clock{t: time.Unix(6000, 0)} // the start of window 100 of a minute
	n, err := dpop.NewNonces([]byte(strings.Repeat("k", 32)), time.Minute, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	first := n.Current()
	clk.Add(time.Minute - time.Nanosecond)
	if n.Current() != first {
		t.Fatal("nonce changed within its window")
	}
	clk.Add(time.Nanosecond)
	if n.Current() == first {
		t.Fatal("nonce did not change at the window's end")
	}
	clk.Add(2*time.Minute - time.Nanosecond) // still in the next-but-one... window 102
	if err := n.Check(first); err == nil {
		t.Fatal("nonce of window 100 accepted in window 102")
	}
	if _, err := dpop.NewNonces([]byte("short"), time.Minute, nil); err == nil {
		t.Fatal("NewNonces with a 5-byte secret: got no error")
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*dpop.Config)
		want string
	}{
		{"none", func(c *dpop.Config) { c.Algorithms = []string{"ES256", "none"} }, `"none" is not allowed`},
		{"HS256", func(c *dpop.Config) { c.Algorithms = []string{"HS256"} }, `"HS256" is not allowed`},
		{"unknown", func(c *dpop.Config) { c.Algorithms = []string{"ES257"} }, "not a supported algorithm"},
		{"empty", func(c *dpop.Config) { c.Algorithms = nil }, "no proof signing algorithm"},
		{"offset 0", func(c *dpop.Config) { c.IATOffset = 0 }, "iat offset"},
		{"negative leeway", func(c *dpop.Config) { c.IATLeeway = -time.Second }, "iat leeway"},
		{"short nonce secret", func(c *dpop.Config) { c.NonceSecret = []byte("0123456789") }, "too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dpop.DefaultConfig()
			tc.edit(&cfg)
			_, err := dpop.New(cfg, memory.NewReplayCache(100, ports.ReplayShares{}, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := dpop.New(dpop.DefaultConfig(), nil); err == nil {
		t.Fatal("New without a replay cache: got no error")
	}

	algs, err := dpop.ParseAlgorithms("ES256, EdDSA PS256")
	if err != nil || strings.Join(algs, " ") != "ES256 EdDSA PS256" {
		t.Fatalf("ParseAlgorithms: got %v, %v", algs, err)
	}
	for _, bad := range []string{"", " , ", "ES256,HS512", "none"} {
		if _, err := dpop.ParseAlgorithms(bad); err == nil {
			t.Fatalf("ParseAlgorithms(%q): got no error", bad)
		}
	}
	v := newVerifier(t, &clock{t: testNow}, func(c *dpop.Config) { c.Algorithms = []string{"ES256"} })
	if got := v.Algorithms(); strings.Join(got, " ") != "ES256" {
		t.Fatalf("Algorithms: got %v, want [ES256]", got)
	}
	// Only configured algorithms are accepted.
	k := testKey(t, "PS256")
	wantReason(t, v.VerifyProof(context.Background(), request(k, proof(t, k, testNow))), domain.ProofAlgorithm)
}

// RFC 7638 §3.1: the thumbprint of the example RSA key.
func TestThumbprintRFC7638Example(t *testing.T) {
	jwk := `{
      "kty": "RSA",
      "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
      "e": "AQAB",
      "alg": "RS256",
      "kid": "2011-04-29"
     }`
	got, err := dpop.Thumbprint([]byte(jwk))
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// Members beyond the required ones, their order and escapes do not
	// change it.
	reordered := `{"e":"AQAB","use":"sig","kid":"x","kty":"\u0052SA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`
	if got2, err := dpop.Thumbprint([]byte(reordered)); err != nil || got2 != got {
		t.Fatalf("reordered: got %s, %v; want %s", got2, err, got)
	}
	if _, err := dpop.Thumbprint([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"}`)); err == nil {
		t.Fatal("private key: got no error")
	}
}

// The thumbprint of an EC key is the SHA-256 of exactly
// {"crv":"P-256","kty":"EC","x":"…","y":"…"}.
func TestThumbprintEC(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := publicJWK(&priv.PublicKey)
	canonical := `{"crv":"P-256","kty":"EC","x":"` + jwk["x"].(string) + `","y":"` + jwk["y"].(string) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	got, err := dpop.Thumbprint(mustJSON(t, jwk))
	if err != nil || got != b64(sum[:]) {
		t.Fatalf("got %s, %v; want %s", got, err, b64(sum[:]))
	}
}

// Accepted headers are cached; the cache never changes an outcome: the
// signature and claims of every proof are checked whatever its header, and
// the cache stays bounded past its size.
func TestHeaderCacheDoesNotChangeOutcomes(t *testing.T) {
	clk := &clock{t: testNow}
	v := newVerifier(t, clk, nil)
	k, other := testKey(t, "ES256"), testKey(t, "ES256-other")
	ctx := context.Background()
	wantReason(t, v.VerifyProof(ctx, request(k, proof(t, k, testNow))), "")
	wantReason(t, v.VerifyProof(ctx, request(k, sign(t, header(k), claims(testNow), "ES256", other.signer))), domain.ProofSignature)
	c := claims(testNow)
	c["htm"] = "PUT"
	wantReason(t, v.VerifyProof(ctx, request(k, sign(t, header(k), c, "ES256", k.signer))), domain.ProofMethod)

	// A header refused once is refused again (refusals are not cached).
	h := header(k)
	h["typ"] = "JWT"
	bad := sign(t, h, claims(testNow), "ES256", k.signer)
	wantReason(t, v.VerifyProof(ctx, request(k, bad)), domain.ProofType)
	wantReason(t, v.VerifyProof(ctx, request(k, bad)), domain.ProofType)

	// More distinct headers than the cache holds (4096): all still work.
	for i := range 4200 {
		h := header(k)
		h["kid"] = fmt.Sprint(i)
		wantReason(t, v.VerifyProof(ctx, request(k, sign(t, h, claims(testNow), "ES256", k.signer))), "")
	}
	wantReason(t, v.VerifyProof(ctx, request(k, sign(t, header(k), claims(testNow), "ES256", other.signer))), domain.ProofSignature)
}
