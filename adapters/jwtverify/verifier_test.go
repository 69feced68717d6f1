package jwtverify_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

var quiet = jwtverifytest.Quiet

// clock is a test clock: real time plus an offset tests can move.
type clock = jwtverifytest.Clock

// config is one issuer's verifier, as the tests change it.
type config struct {
	jwtverify.Options
	jwtverify.Issuer
}

// claims is where the tests' tokens keep scopes, permissions and the
// client: the auth0 adapter's mapping, so the benchmarks measure the
// default provider's path.
var claims = jwtverify.Mapping{Scope: "scope", ScopeList: "scp", Permissions: "permissions", Clients: []string{"client_id", "azp", "appid", "cid"}}

func newConfig(iss *jwtverifytest.Issuer) config {
	return config{
		Options: jwtverify.Options{ClockTolerance: 5 * time.Second},
		Issuer:  jwtverify.Issuer{Name: iss.URL, Audiences: []string{jwtverifytest.Audience}, Claims: claims},
	}
}

// start builds a verifier for cfg and waits until its keys are loaded.
func start(t *testing.T, cfg config) *jwtverify.Verifier {
	t.Helper()
	v := startNoWait(t, cfg)
	waitReady(t, v)
	return v
}

func startNoWait(t *testing.T, cfg config) *jwtverify.Verifier {
	t.Helper()
	return newVerifier(t, cfg, quiet, prometheus.NewRegistry())
}

// newVerifier builds a verifier that stops when the test ends; it does not
// wait for keys.
func newVerifier(t testing.TB, cfg config, log *slog.Logger, reg *prometheus.Registry) *jwtverify.Verifier {
	t.Helper()
	return newMulti(t, cfg.Options, log, reg, cfg.Issuer)
}

// newMulti builds a verifier for several issuers that stops when the test
// ends; it does not wait for keys.
func newMulti(t testing.TB, opts jwtverify.Options, log *slog.Logger, reg *prometheus.Registry, issuers ...jwtverify.Issuer) *jwtverify.Verifier {
	t.Helper()
	v, cleanup, err := jwtverify.New(context.Background(), opts, issuers, log, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	return v
}

func waitReady(t testing.TB, v *jwtverify.Verifier) { jwtverifytest.WaitReady(t, v) }

// reasonOf returns the refusal reason of err, "ok" for nil, or fails.
func reasonOf(t *testing.T, err error) domain.Reason { return jwtverifytest.Reason(t, err) }

// hostile is one refused (or, as a control, accepted) token.
type hostile struct {
	name string
	tok  func(t *testing.T, iss *jwtverifytest.Issuer) string
	want domain.Reason
}

// withClaims returns a token whose claims are the defaults changed by f.
func withClaims(f func(c map[string]any)) func(*testing.T, *jwtverifytest.Issuer) string {
	return func(_ *testing.T, iss *jwtverifytest.Issuer) string {
		c := iss.Claims("auth0|mallory", "read:messages")
		f(c)
		return iss.Token(c)
	}
}

// withHeader returns a token signed by the issuer's key whose header is the
// default changed by f.
func withHeader(f func(h map[string]any)) func(*testing.T, *jwtverifytest.Issuer) string {
	return func(t *testing.T, iss *jwtverifytest.Issuer) string {
		h := jwtverifytest.Header(iss.Key)
		f(h)
		return jwtverifytest.Sign(t, iss.Key, h, iss.Claims("auth0|mallory", "read:messages"))
	}
}

// raw returns a token built from header and payload JSON as given, signed
// by the issuer's key with RS256.
func raw(header, payload string) func(*testing.T, *jwtverifytest.Issuer) string {
	return func(t *testing.T, iss *jwtverifytest.Issuer) string {
		return jwtverifytest.SignRaw(t, iss.Key, "RS256", []byte(header), []byte(payload))
	}
}

// withRawClaims returns a token signed by the issuer's key whose payload
// is the default claims' JSON with extra members (JSON text) written at its
// end, and whose header is the default's JSON or, if given, header.
func withRawClaims(extra string, header ...string) func(*testing.T, *jwtverifytest.Issuer) string {
	return func(t *testing.T, iss *jwtverifytest.Issuer) string {
		c := mustJSON(t, iss.Claims("auth0|mallory", "read:messages"))
		h := mustJSON(t, jwtverifytest.Header(iss.Key))
		if len(header) > 0 {
			h = header[0]
		}
		return jwtverifytest.SignRaw(t, iss.Key, "RS256", []byte(h), []byte(strings.TrimSuffix(c, "}")+extra+"}"))
	}
}

func b64(s string) string { return jwtverifytest.B64(s) }

// Thumbprints for "cnf": a DPoP key's (jkt) and a certificate's (x5t#S256).
const (
	jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	x5t = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg0"
)

// withCnf makes a token whose "cnf" is cnf.
func withCnf(cnf map[string]any) func(*testing.T, *jwtverifytest.Issuer) string {
	return withClaims(func(c map[string]any) { c["cnf"] = cnf })
}

func hmacToken(t *testing.T, secret []byte, header, payload string) string {
	return jwtverifytest.HMACToken(t, secret, header, payload)
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLogged is start without waiting, logging into the returned buffer.
func startLogged(t *testing.T, cfg config) (*jwtverify.Verifier, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	return newVerifier(t, cfg, slog.New(slog.NewTextHandler(buf, nil)), prometheus.NewRegistry()), buf
}

// waitLog waits until the log contains want.
func waitLog(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never mentioned %q; log:\n%s", want, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHostileTokens(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v := start(t, newConfig(iss))
	now := time.Now()
	attacker := jwtverifytest.NewRSAKey(t, "key-1", 1) // same kid as the real key, other key

	cases := []hostile{
		// Controls: these are fine.
		{"valid", withClaims(func(map[string]any) {}), "ok"},
		{"typ absent", withHeader(func(h map[string]any) { delete(h, "typ") }), "ok"},
		{"typ JWT", withHeader(func(h map[string]any) { h["typ"] = "JWT" }), "ok"},
		{"typ application/at+jwt mixed case", withHeader(func(h map[string]any) { h["typ"] = "Application/AT+JWT" }), "ok"},
		{"no kid, one key", withHeader(func(h map[string]any) { delete(h, "kid") }), "ok"},
		{"aud as a string", withClaims(func(c map[string]any) { c["aud"] = jwtverifytest.Audience }), "ok"},
		{"exp just past, within leeway", withClaims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Second).Unix() }), "ok"},
		{"nbf just ahead, within leeway", withClaims(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Second).Unix() }), "ok"},
		{"exp as a fraction", withClaims(func(c map[string]any) { c["exp"] = float64(now.Add(time.Hour).Unix()) + 0.5 }), "ok"},
		{"no sub (a machine token, as some issuers make them)", withClaims(func(c map[string]any) { delete(c, "sub") }), "ok"},

		// Shape.
		{"empty", func(*testing.T, *jwtverifytest.Issuer) string { return "" }, domain.ReasonMalformed},
		{"one segment", func(*testing.T, *jwtverifytest.Issuer) string { return "invalidToken" }, domain.ReasonMalformed},
		{"space inside", func(*testing.T, *jwtverifytest.Issuer) string { return "invalidToken abc" }, domain.ReasonMalformed},
		{"two segments", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			tok := iss.Token(iss.Claims("x"))
			return tok[:strings.LastIndex(tok, ".")]
		}, domain.ReasonMalformed},
		{"four segments", func(t *testing.T, iss *jwtverifytest.Issuer) string { return iss.Token(iss.Claims("x")) + ".abc" }, domain.ReasonMalformed},
		{"JWE (five segments)", func(*testing.T, *jwtverifytest.Issuer) string { return "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d" }, domain.ReasonMalformed},
		{"empty signature", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			tok := iss.Token(iss.Claims("x"))
			return tok[:strings.LastIndex(tok, ".")+1]
		}, domain.ReasonMalformed},
		{"padding characters", func(t *testing.T, iss *jwtverifytest.Issuer) string { return iss.Token(iss.Claims("x")) + "==" }, domain.ReasonMalformed},
		{"standard base64 alphabet", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			return strings.Replace(iss.Token(iss.Claims("x")), "e", "+", 1)
		}, domain.ReasonMalformed},
		{"non-canonical base64 (trailing bits)", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			tok := iss.Token(iss.Claims("x"))
			// The 256-byte RS256 signature is 342 characters; its last one
			// carries 4 unused bits that must be zero.
			last := tok[len(tok)-1]
			alt := map[byte]byte{'A': 'B', 'Q': 'R', 'g': 'h', 'w': 'x'}[last]
			if alt == 0 {
				t.Fatalf("last character %q of an RS256 signature is not canonical", last)
			}
			return tok[:len(tok)-1] + string(alt)
		}, domain.ReasonMalformed},
		{"header is an array", raw(`["RS256"]`, `{}`), domain.ReasonMalformed},
		{"header is a string", raw(`"RS256"`, `{}`), domain.ReasonMalformed},
		{"payload is an array", raw(`{"alg":"RS256","kid":"key-1"}`, `[1,2]`), domain.ReasonMalformed},
		{"payload with trailing garbage", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			c := mustJSON(t, iss.Claims("x"))
			return jwtverifytest.SignRaw(t, iss.Key, "RS256", []byte(`{"alg":"RS256","kid":"key-1"}`), []byte(c+" x"))
		}, domain.ReasonMalformed},
		{"payload not JSON", raw(`{"alg":"RS256","kid":"key-1"}`, `hello`), domain.ReasonMalformed},
		{"payload null", raw(`{"alg":"RS256","kid":"key-1"}`, `null`), domain.ReasonMalformed},
		// A member named twice, even with the same value: which one counts
		// differs between JSON parsers (members.go).
		{"claims name exp twice, same value", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			c := iss.Claims("auth0|mallory", "read:messages")
			return withRawClaims(`,"exp":`+mustJSON(t, c["exp"]))(t, iss)
		}, domain.ReasonMalformed},
		{"claims name exp twice, once escaped", withRawClaims(`,"\u0065xp":9999999999`), domain.ReasonMalformed},
		{"claims name iss twice, the last wrong", withRawClaims(`,"iss":"https://evil.example/"`), domain.ReasonMalformed},
		{"claims name sub twice, once as \\u0073\\u0075\\u0062", withRawClaims(`,"\u0073\u0075\u0062":"auth0|admin"`), domain.ReasonMalformed},
		{"claims name a namespaced claim twice, once with \\/", withRawClaims(`,"https://api.example/roles":["user"],"https:\/\/api.example\/roles":["admin"]`), domain.ReasonMalformed},
		{"claims repeat names inside a nested object", withRawClaims(`,"ext":{"role":"user","role":"admin"}`), "ok"},
		{"claims with braces, quotes and member-like text in strings", withRawClaims(`,"note":"}\",\"exp\":1,{\"","Exp":"{"`), "ok"},
		{"claims names differing in case", withRawClaims(`,"Sub":"x","SUB":"y"`), "ok"},
		{"header names alg twice, the last allowed", withRawClaims(``, `{"alg":"HS256","alg":"RS256","kid":"key-1"}`), domain.ReasonMalformed},
		{"header names kid twice, same value", withRawClaims(``, `{"alg":"RS256","kid":"key-1","kid":"key-1"}`), domain.ReasonMalformed},
		{"header names typ twice, once escaped", withRawClaims(``, `{"alg":"RS256","kid":"key-1","typ":"at+jwt","\u0074yp":"at+jwt"}`), domain.ReasonMalformed},
		{"header repeats names inside a nested object", withRawClaims(``, `{"alg":"RS256","kid":"key-1","x-ext":{"a":1,"a":2}}`), "ok"},
		{"200 KB token", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			c := iss.Claims("x")
			c["pad"] = strings.Repeat("A", 200_000)
			return iss.Token(c)
		}, domain.ReasonTooLarge},
		{"60,000 dots", func(*testing.T, *jwtverifytest.Issuer) string { return strings.Repeat(".", 60_000) }, domain.ReasonTooLarge},
		{"10,000 dots", func(*testing.T, *jwtverifytest.Issuer) string { return strings.Repeat(".", 10_000) }, domain.ReasonMalformed},

		// Algorithm.
		{"alg none, unsigned", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			return b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(mustJSON(t, iss.Claims("x"))) + "."
		}, domain.ReasonMalformed},
		{"alg none with a signature", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			return b64(`{"alg":"none","kid":"key-1"}`) + "." + b64(mustJSON(t, iss.Claims("x"))) + ".c2ln"
		}, domain.ReasonAlgorithm},
		{"alg None", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			return b64(`{"alg":"None","kid":"key-1"}`) + "." + b64(mustJSON(t, iss.Claims("x"))) + ".c2ln"
		}, domain.ReasonAlgorithm},
		{"HS256 with the RSA public key as secret", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			der, err := x509.MarshalPKIXPublicKey(iss.Key.Public())
			if err != nil {
				t.Fatal(err)
			}
			pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			return hmacToken(t, pemKey, `{"alg":"HS256","typ":"JWT","kid":"key-1"}`, mustJSON(t, iss.Claims("x")))
		}, domain.ReasonAlgorithm},
		{"lower-case rs256", withHeader(func(h map[string]any) { h["alg"] = "rs256" }), domain.ReasonAlgorithm},
		{"RS384 not allowed", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			h := jwtverifytest.Header(iss.Key)
			h["alg"] = "RS384"
			return jwtverifytest.Sign(t, iss.Key, h, iss.Claims("x"))
		}, domain.ReasonAlgorithm},
		{"alg missing", withHeader(func(h map[string]any) { delete(h, "alg") }), domain.ReasonAlgorithm},
		{"alg a number", raw(`{"alg":256,"kid":"key-1"}`, `{}`), domain.ReasonAlgorithm},

		// Header rules.
		{"crit present", withHeader(func(h map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }), domain.ReasonCritical},
		{"crit empty", withHeader(func(h map[string]any) { h["crit"] = []string{} }), domain.ReasonCritical},
		{"b64 false with crit", withHeader(func(h map[string]any) { h["b64"] = false; h["crit"] = []string{"b64"} }), domain.ReasonCritical},
		{"typ dpop+jwt", withHeader(func(h map[string]any) { h["typ"] = "dpop+jwt" }), domain.ReasonType},
		{"typ logout+jwt", withHeader(func(h map[string]any) { h["typ"] = "logout+jwt" }), domain.ReasonType},
		{"typ secevent+jwt", withHeader(func(h map[string]any) { h["typ"] = "secevent+jwt" }), domain.ReasonType},
		{"typ JOSE", withHeader(func(h map[string]any) { h["typ"] = "JOSE" }), domain.ReasonType},
		{"typ empty", withHeader(func(h map[string]any) { h["typ"] = "" }), domain.ReasonType},
		{"typ a number", withHeader(func(h map[string]any) { h["typ"] = 1 }), domain.ReasonMalformed},
		{"kid a number", withHeader(func(h map[string]any) { h["kid"] = 1 }), domain.ReasonMalformed},
		{"ALG upper-case name only", raw(`{"ALG":"RS256","kid":"key-1"}`, `{}`), domain.ReasonAlgorithm},

		// Keys.
		{"unknown kid", withHeader(func(h map[string]any) { h["kid"] = "no-such-key" }), domain.ReasonUnknownKey},
		{"signed by another key with the real kid", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			return jwtverifytest.Sign(t, attacker, jwtverifytest.Header(attacker), iss.Claims("x", "read:messages"))
		}, domain.ReasonSignature},
		{"embedded jwk of the attacker", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			h := jwtverifytest.Header(attacker)
			h["kid"] = "attacker"
			h["jwk"] = json.RawMessage(attacker.JWK(t))
			return jwtverifytest.Sign(t, attacker, h, iss.Claims("x", "read:messages"))
		}, domain.ReasonUnknownKey},
		{"embedded jwk with the real kid", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			h := jwtverifytest.Header(attacker)
			h["jwk"] = json.RawMessage(attacker.JWK(t))
			return jwtverifytest.Sign(t, attacker, h, iss.Claims("x", "read:messages"))
		}, domain.ReasonSignature},
		{"jku to the attacker", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			h := jwtverifytest.Header(attacker)
			h["kid"] = "attacker"
			h["jku"] = "http://127.0.0.1:1/jwks.json"
			h["x5u"] = "http://127.0.0.1:1/cert.pem"
			return jwtverifytest.Sign(t, attacker, h, iss.Claims("x", "read:messages"))
		}, domain.ReasonUnknownKey},
		{"jku, x5u, x5c, x5t and jwk beside the real kid are ignored", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			h := jwtverifytest.Header(iss.Key)
			h["jku"] = "http://127.0.0.1:1/jwks.json"
			h["x5u"] = "http://127.0.0.1:1/cert.pem"
			h["x5c"] = []string{"MIIB", "not a certificate"}
			h["x5t"] = "bm90IGEgdGh1bWJwcmludA"
			h["jwk"] = json.RawMessage(attacker.JWK(t))
			return jwtverifytest.Sign(t, iss.Key, h, iss.Claims("x", "read:messages"))
		}, "ok"},
		{"no kid, signed by the attacker", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			h := jwtverifytest.Header(attacker)
			delete(h, "kid")
			return jwtverifytest.Sign(t, attacker, h, iss.Claims("x", "read:messages"))
		}, domain.ReasonSignature},
		{"ES256 with the RSA key's kid", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			ec := jwtverifytest.NewECKey(t, "key-1", "ES256")
			return jwtverifytest.Sign(t, ec, jwtverifytest.Header(ec), iss.Claims("x"))
		}, domain.ReasonAlgorithm},
		{"signature bit flipped", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			tok := iss.Token(iss.Claims("x"))
			i := strings.LastIndex(tok, ".") + 5
			c := byte('A')
			if tok[i] == 'A' {
				c = 'B'
			}
			return tok[:i] + string(c) + tok[i+1:]
		}, domain.ReasonSignature},
		{"payload swapped after signing", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			a := strings.Split(iss.Token(iss.Claims("auth0|mallory")), ".")
			b := strings.Split(iss.Token(iss.Claims("auth0|admin", "read:messages", "admin")), ".")
			return a[0] + "." + b[1] + "." + a[2]
		}, domain.ReasonSignature},
		{"signature with text appended", func(t *testing.T, iss *jwtverifytest.Issuer) string {
			return iss.Token(iss.Claims("x")) + "string"
		}, domain.ReasonSignature},

		// Registered claims.
		{"expired", withClaims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }), domain.ReasonExpired},
		{"exp missing", withClaims(func(c map[string]any) { delete(c, "exp") }), domain.ReasonMissingClaim},
		{"exp zero", withClaims(func(c map[string]any) { c["exp"] = 0 }), domain.ReasonMissingClaim},
		{"exp only as EXP", withClaims(func(c map[string]any) { c["EXP"] = c["exp"]; delete(c, "exp") }), domain.ReasonMissingClaim},
		{"exp only as Exp", withClaims(func(c map[string]any) { c["Exp"] = c["exp"]; delete(c, "exp") }), domain.ReasonMissingClaim},
		{"exp a string", withClaims(func(c map[string]any) { c["exp"] = "9999999999" }), domain.ReasonClaimType},
		{"exp null", withClaims(func(c map[string]any) { c["exp"] = nil }), domain.ReasonClaimType},
		{"exp true", withClaims(func(c map[string]any) { c["exp"] = true }), domain.ReasonClaimType},
		{"exp an array", withClaims(func(c map[string]any) { c["exp"] = []int64{now.Add(time.Hour).Unix()} }), domain.ReasonClaimType},
		{"exp too big for a number", raw(`{"alg":"RS256","kid":"key-1"}`, `{"exp":1e400}`), domain.ReasonMalformed},
		{"nbf in the future", withClaims(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() }), domain.ReasonNotYetValid},
		{"nbf a string", withClaims(func(c map[string]any) { c["nbf"] = "0" }), domain.ReasonClaimType},
		{"iat in the future", withClaims(func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }), domain.ReasonIssuedInFuture},
		{"iat a string", withClaims(func(c map[string]any) { c["iat"] = "now" }), domain.ReasonClaimType},
		{"iss wrong", withClaims(func(c map[string]any) { c["iss"] = "https://evil.example/" }), domain.ReasonIssuer},
		{"iss without the trailing slash", withClaims(func(c map[string]any) { c["iss"] = strings.TrimSuffix(c["iss"].(string), "/") }), domain.ReasonIssuer},
		{"iss in other case", withClaims(func(c map[string]any) { c["iss"] = strings.ToUpper(c["iss"].(string)) }), domain.ReasonIssuer},
		{"iss missing", withClaims(func(c map[string]any) { delete(c, "iss") }), domain.ReasonMissingClaim},
		{"iss only as ISS", withClaims(func(c map[string]any) { c["ISS"] = c["iss"]; delete(c, "iss") }), domain.ReasonMissingClaim},
		{"iss a number", withClaims(func(c map[string]any) { c["iss"] = 1 }), domain.ReasonClaimType},
		{"iss an array", withClaims(func(c map[string]any) { c["iss"] = []string{c["iss"].(string)} }), domain.ReasonClaimType},
		{"aud wrong", withClaims(func(c map[string]any) { c["aud"] = "https://other-api.example" }), domain.ReasonAudience},
		{"aud array without ours", withClaims(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), domain.ReasonAudience},
		{"aud in other case", withClaims(func(c map[string]any) { c["aud"] = strings.ToUpper(jwtverifytest.Audience) }), domain.ReasonAudience},
		{"aud with a trailing slash", withClaims(func(c map[string]any) { c["aud"] = jwtverifytest.Audience + "/" }), domain.ReasonAudience},
		{"aud prefix of ours", withClaims(func(c map[string]any) { c["aud"] = jwtverifytest.Audience[:10] }), domain.ReasonAudience},
		{"aud missing", withClaims(func(c map[string]any) { delete(c, "aud") }), domain.ReasonMissingClaim},
		{"aud only as AUD", withClaims(func(c map[string]any) { c["AUD"] = c["aud"]; delete(c, "aud") }), domain.ReasonMissingClaim},
		{"aud empty array", withClaims(func(c map[string]any) { c["aud"] = []string{} }), domain.ReasonMissingClaim},
		{"aud a number", withClaims(func(c map[string]any) { c["aud"] = 1 }), domain.ReasonMissingClaim},
		{"aud array with a number", withClaims(func(c map[string]any) { c["aud"] = []any{jwtverifytest.Audience, 1} }), domain.ReasonClaimType},
		{"sub a number", withClaims(func(c map[string]any) { c["sub"] = 42 }), domain.ReasonClaimType},
		{"sub empty", withClaims(func(c map[string]any) { c["sub"] = "" }), domain.ReasonClaimType},
		{"scope an array", withClaims(func(c map[string]any) { c["scope"] = []string{"read:messages"} }), domain.ReasonClaimType},
		{"permissions a string", withClaims(func(c map[string]any) { c["permissions"] = "read:messages" }), domain.ReasonClaimType},
		{"permissions with a number", withClaims(func(c map[string]any) { c["permissions"] = []any{"read:messages", 1} }), domain.ReasonClaimType},
		{"azp a number", withClaims(func(c map[string]any) { c["azp"] = 1 }), domain.ReasonClaimType},
		{"client_id an object", withClaims(func(c map[string]any) { c["client_id"] = map[string]any{} }), domain.ReasonClaimType},
		{"jti a number", withClaims(func(c map[string]any) { c["jti"] = 7 }), domain.ReasonClaimType},

		// Confirmation (RFC 7800 §3.1, RFC 9449 §6.1, RFC 8705 §3.1): the
		// methods this API checks are read, the registered ones it cannot
		// check refuse the token, other members are ignored.
		{"cnf with jkt", withCnf(map[string]any{"jkt": jkt}), "ok"},
		{"cnf with x5t#S256", withCnf(map[string]any{"x5t#S256": x5t}), "ok"},
		{"cnf with jkt and x5t#S256", withCnf(map[string]any{"jkt": jkt, "x5t#S256": x5t}), "ok"},
		{"cnf with jkt and a kid (oidc-provider)", withCnf(map[string]any{"jkt": jkt, "kid": "k1"}), "ok"},
		{"cnf with jkt and a member of the issuer's own", withCnf(map[string]any{"jkt": jkt, "https://example.com/note": map[string]any{"a": 1}}), "ok"},
		{"cnf with x5t#S256 and a member of the issuer's own", withCnf(map[string]any{"x5t#S256": x5t, "x5t": "c2hhMQ"}), "ok"},
		{"cnf a string", withClaims(func(c map[string]any) { c["cnf"] = jkt }), domain.ReasonConfirmation},
		{"cnf null", withClaims(func(c map[string]any) { c["cnf"] = nil }), domain.ReasonConfirmation},
		{"cnf an array", withClaims(func(c map[string]any) { c["cnf"] = []any{map[string]any{"jkt": jkt}} }), domain.ReasonConfirmation},
		{"cnf empty object", withCnf(map[string]any{}), domain.ReasonConfirmation},
		{"cnf.jkt empty", withCnf(map[string]any{"jkt": ""}), domain.ReasonConfirmation},
		{"cnf.jkt a number", withCnf(map[string]any{"jkt": 1}), domain.ReasonConfirmation},
		{"cnf.jkt null beside x5t#S256", withCnf(map[string]any{"jkt": nil, "x5t#S256": x5t}), domain.ReasonConfirmation},
		{"cnf.jkt not base64url", withCnf(map[string]any{"jkt": strings.Repeat("+", 43)}), domain.ReasonConfirmation},
		{"cnf.jkt padded", withCnf(map[string]any{"jkt": jkt + "="}), domain.ReasonConfirmation},
		{"cnf.jkt only as JKT", withCnf(map[string]any{"JKT": jkt}), domain.ReasonConfirmation},
		{"cnf.x5t#S256 of SHA-1's length", withCnf(map[string]any{"x5t#S256": "c2hhMWMyaGhNV015YUdoTldNeQ"}), domain.ReasonConfirmation},
		{"cnf.x5t#S256 an array", withCnf(map[string]any{"x5t#S256": []any{x5t}}), domain.ReasonConfirmation},
		{"cnf.jkt beside a malformed x5t#S256", withCnf(map[string]any{"jkt": jkt, "x5t#S256": "abc"}), domain.ReasonConfirmation},
		{"cnf with only x5t (SHA-1)", withCnf(map[string]any{"x5t": "c2hhMQ"}), domain.ReasonConfirmation},
		{"cnf with a raw jwk", withCnf(map[string]any{"jwk": map[string]any{"kty": "EC"}}), domain.ReasonConfirmation},
		{"cnf with a raw jwk beside jkt", withCnf(map[string]any{"jkt": jkt, "jwk": map[string]any{"kty": "EC"}}), domain.ReasonConfirmation},
		{"cnf with jku", withCnf(map[string]any{"jku": "https://evil.example/jwks"}), domain.ReasonConfirmation},
		{"cnf with jwe", withCnf(map[string]any{"jwe": "a.b.c.d.e"}), domain.ReasonConfirmation},
		{"cnf with osc (RFC 9203)", withCnf(map[string]any{"osc": map[string]any{}}), domain.ReasonConfirmation},
		{"cnf with a kid alone", withCnf(map[string]any{"kid": "k1"}), domain.ReasonConfirmation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok(t, iss)
			_, err := v.Verify(context.Background(), tok)
			if got := reasonOf(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
			if err != nil && len(tok) > 20 && strings.Contains(err.Error(), tok) {
				t.Errorf("error text contains the token")
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string { return jwtverifytest.MustJSON(t, v) }

// TestConfirmationKey checks that a bound token's cnf.jkt and cnf
// x5t#S256 reach the principal, and that a bearer token's principal has
// none, from a fresh
// verification and from the cache alike.
func TestConfirmationKey(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	v := start(t, newConfig(iss))
	c := iss.Claims("auth0|alice")
	c["cnf"] = map[string]any{"jkt": jkt}
	bound, plain := iss.Token(c), iss.Token(iss.Claims("auth0|alice"))
	c = iss.Claims("auth0|alice")
	c["cnf"] = map[string]any{"x5t#S256": x5t, "kid": "k1"}
	certBound := iss.Token(c)
	c = iss.Claims("auth0|alice")
	c["cnf"] = map[string]any{"x5t#S256": x5t, "jkt": jkt}
	both := iss.Token(c)
	for round := range 2 { // the second round is served by the cache
		for _, tc := range []struct {
			name, tok, jkt, x5t string
		}{
			{"DPoP-bound", bound, jkt, ""},
			{"bearer", plain, "", ""},
			{"certificate-bound", certBound, "", x5t},
			{"bound both ways", both, jkt, x5t},
		} {
			p, err := v.Verify(context.Background(), tc.tok)
			if err != nil || p.JKT != tc.jkt || p.CertThumbprint != tc.x5t {
				t.Errorf("round %d: %s token: got JKT %q, CertThumbprint %q, %v; want %q, %q",
					round, tc.name, p.JKT, p.CertThumbprint, err, tc.jkt, tc.x5t)
			}
		}
	}
}

func TestAlgorithms(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	rsaNoAlg := jwtverifytest.NewRSAKey(t, "rsa-no-alg", 1)
	rsaNoAlg.JWKAlg = ""
	es256 := jwtverifytest.NewECKey(t, "ec-256", "ES256")
	es384 := jwtverifytest.NewECKey(t, "ec-384", "ES384")
	es384NoAlg := jwtverifytest.NewECKey(t, "ec-384-no-alg", "ES384")
	es384NoAlg.JWKAlg = ""
	ed := jwtverifytest.NewEdKey(t, "ed")
	iss.Publish(iss.Key, rsaNoAlg, es256, es384, es384NoAlg, ed)
	cfg := newConfig(iss)
	cfg.Algorithms = []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}
	v := start(t, cfg)

	sign := func(k *jwtverifytest.Key, alg string) string {
		h := jwtverifytest.Header(k)
		h["alg"] = alg
		return jwtverifytest.Sign(t, k, h, iss.Claims("x"))
	}
	cases := []struct {
		name string
		tok  string
		want domain.Reason
	}{
		{"RS256", sign(iss.Key, "RS256"), "ok"},
		{"PS256 with a key whose JWK alg is RS256", sign(iss.Key, "PS256"), domain.ReasonUnknownKey},
		{"PS256 with a key without JWK alg", sign(rsaNoAlg, "PS256"), "ok"},
		{"ES256", sign(es256, "ES256"), "ok"},
		{"ES384", sign(es384, "ES384"), "ok"},
		{"EdDSA", sign(ed, "EdDSA"), "ok"},
		{"ES384 token naming the P-256 key", func() string {
			k := *es384
			k.KID = es256.KID
			return sign(&k, "ES384")
		}(), domain.ReasonUnknownKey},
		{"ES256 token naming a P-384 key without JWK alg", func() string {
			// Signed with ES384 (golang-jwt will not sign ES256 with P-384);
			// only the curve check can tell this from a bad signature.
			h := jwtverifytest.Header(es384NoAlg)
			h["alg"] = "ES256"
			return jwtverifytest.SignRaw(t, es384NoAlg, "ES384", []byte(mustJSON(t, h)), []byte(mustJSON(t, iss.Claims("x"))))
		}(), domain.ReasonUnknownKey},
		{"ES384 token naming a P-384 key without JWK alg", sign(es384NoAlg, "ES384"), "ok"},
		{"EdDSA token naming an RSA key", func() string {
			k := *ed
			k.KID = rsaNoAlg.KID
			return sign(&k, "EdDSA")
		}(), domain.ReasonUnknownKey},
		{"RS512 not in the list", sign(rsaNoAlg, "RS512"), domain.ReasonAlgorithm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.tok)
			if got := reasonOf(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// RFC 9864 names EdDSA with an Ed25519 key "Ed25519"; the old name
// "EdDSA" stays valid. Both name the same signature, so either JWK alg
// serves either token alg, but only on an Ed25519 key.
func TestEd25519(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	edDSA := jwtverifytest.NewEdKey(t, "ed-eddsa") // JWK alg EdDSA
	ed25519 := jwtverifytest.NewEdKey(t, "ed-ed25519")
	ed25519.Alg, ed25519.JWKAlg = "Ed25519", "Ed25519"
	edNoAlg := jwtverifytest.NewEdKey(t, "ed-no-alg")
	edNoAlg.JWKAlg = ""
	rsaNoAlg := jwtverifytest.NewRSAKey(t, "rsa-no-alg", 1)
	rsaNoAlg.JWKAlg = ""
	rsaEd := jwtverifytest.NewRSAKey(t, "rsa-says-ed25519", 2)
	rsaEd.JWKAlg = "Ed25519"
	iss.Publish(edDSA, ed25519, edNoAlg, rsaNoAlg, rsaEd)

	sign := func(t *testing.T, k *jwtverifytest.Key, alg, kid string) string {
		h := jwtverifytest.Header(k)
		h["alg"], h["kid"] = alg, kid
		if kid == "" {
			delete(h, "kid")
		}
		return jwtverifytest.Sign(t, k, h, iss.Claims("x"))
	}
	for _, tc := range []struct {
		name string
		algs []string
		tok  func(t *testing.T) string
		want domain.Reason
	}{
		{"Ed25519 token, JWK alg Ed25519", []string{"Ed25519"}, func(t *testing.T) string { return sign(t, ed25519, "Ed25519", ed25519.KID) }, "ok"},
		{"Ed25519 token, JWK alg EdDSA", []string{"Ed25519"}, func(t *testing.T) string { return sign(t, edDSA, "Ed25519", edDSA.KID) }, "ok"},
		{"Ed25519 token, JWK without alg", []string{"Ed25519"}, func(t *testing.T) string { return sign(t, edNoAlg, "Ed25519", edNoAlg.KID) }, "ok"},
		{"EdDSA token, JWK alg Ed25519", []string{"EdDSA"}, func(t *testing.T) string { return sign(t, ed25519, "EdDSA", ed25519.KID) }, "ok"},
		{"Ed25519 token without kid", []string{"Ed25519"}, func(t *testing.T) string { return sign(t, ed25519, "Ed25519", "") }, "ok"},
		{"Ed25519 token when only EdDSA is allowed", []string{"EdDSA"}, func(t *testing.T) string { return sign(t, ed25519, "Ed25519", ed25519.KID) }, domain.ReasonAlgorithm},
		{"EdDSA token when only Ed25519 is allowed", []string{"Ed25519"}, func(t *testing.T) string { return sign(t, edDSA, "EdDSA", edDSA.KID) }, domain.ReasonAlgorithm},
		{"Ed25519 token naming an RSA key", []string{"Ed25519", "RS256"}, func(t *testing.T) string { return sign(t, ed25519, "Ed25519", rsaNoAlg.KID) }, domain.ReasonUnknownKey},
		{"Ed25519 token naming an RSA key whose JWK alg says Ed25519", []string{"Ed25519", "RS256"}, func(t *testing.T) string { return sign(t, ed25519, "Ed25519", rsaEd.KID) }, domain.ReasonUnknownKey},
		{"RS256 token naming an Ed25519 key", []string{"Ed25519", "RS256"}, func(t *testing.T) string { return sign(t, rsaNoAlg, "RS256", ed25519.KID) }, domain.ReasonUnknownKey},
		{"Ed25519 token signed by another Ed25519 key", []string{"Ed25519"}, func(t *testing.T) string {
			other := jwtverifytest.NewEdKey(t, "other")
			return sign(t, other, "Ed25519", ed25519.KID)
		}, domain.ReasonSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newConfig(iss)
			cfg.Algorithms = tc.algs
			v := start(t, cfg)
			_, err := v.Verify(context.Background(), tc.tok(t))
			if got := reasonOf(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
	if algs, err := jwtverify.ParseAlgorithms("Ed25519, EdDSA"); err != nil || !slices.Equal(algs, []string{"Ed25519", "EdDSA"}) {
		t.Errorf("ParseAlgorithms(Ed25519, EdDSA): got %q, %v", algs, err)
	}
	if _, err := jwtverify.ParseAlgorithms("ed25519"); err == nil {
		t.Errorf("ParseAlgorithms(ed25519): names are case-sensitive, got no error")
	}
}

// A skipped key's log line says what disqualifies it.
func TestSkippedKeysSayWhy(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	ed := jwtverifytest.NewEdKey(t, "ed") // JWK alg EdDSA
	edNoAlg := jwtverifytest.NewEdKey(t, "ed-no-alg")
	edNoAlg.JWKAlg = ""
	weak := jwtverifytest.NewRSAKeyBits(t, "weak", 1024)
	p384 := jwtverifytest.NewECKey(t, "p384", "ES384")
	p384.JWKAlg = ""
	rsaEd := jwtverifytest.NewRSAKey(t, "rsa-says-ed25519", 1)
	rsaEd.JWKAlg = "Ed25519"
	iss.Publish(iss.Key, ed, edNoAlg, weak, p384, rsaEd)
	for _, tc := range []struct {
		algs []string
		want []string
	}{
		{[]string{"RS256", "ES256", "Ed25519"}, []string{
			`kid \"weak\": RSA key of 1024 bits: at least 2048 are needed`,
			`kid \"p384\": this key verifies only ES384, and the allowed algorithms are RS256, ES256, Ed25519`,
			`kid \"rsa-says-ed25519\": its alg Ed25519 does not fit its key type, which verifies only RS256, RS384, RS512, PS256, PS384, PS512`,
			`kids="[key-1 ed ed-no-alg]"`, // the Ed25519 keys are usable
		}},
		{[]string{"RS256"}, []string{
			`kid \"ed\": alg \"EdDSA\" is not an allowed algorithm`,
			`kid \"ed-no-alg\": this key verifies only EdDSA, Ed25519, and the allowed algorithms are RS256`,
			`kid \"weak\": RSA key of 1024 bits: at least 2048 are needed`,
		}},
	} {
		cfg := newConfig(iss)
		cfg.Algorithms = tc.algs
		_, log := startLogged(t, cfg)
		waitLog(t, log, "signing keys loaded")
		for _, want := range tc.want {
			if !strings.Contains(log.String(), want) {
				t.Errorf("%v: log lacks %s:\n%s", tc.algs, want, log.String())
			}
		}
		if strings.Contains(log.String(), "need 2048 bits") {
			t.Errorf("%v: a key is said to fail the RSA size rule:\n%s", tc.algs, log.String())
		}
	}
}

func TestJWKSHygiene(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	weak := jwtverifytest.NewRSAKeyBits(t, "weak", 1024)
	enc := jwtverifytest.NewRSAKey(t, "enc", 1)
	enc.Use = "enc"
	ops := jwtverifytest.NewRSAKey(t, "ops", 2)
	opsJWK := map[string]any{}
	if err := json.Unmarshal(ops.JWK(t), &opsJWK); err != nil {
		t.Fatal(err)
	}
	opsJWK["key_ops"] = []string{"encrypt", "verify"}
	oct := json.RawMessage(`{"kty":"oct","kid":"hs","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA","alg":"HS256"}`)
	iss.PublishRaw(iss.Key.JWK(t), weak.JWK(t), enc.JWK(t), json.RawMessage(mustJSON(t, opsJWK)), oct,
		json.RawMessage(`{"kty":"RSA","kid":"broken","n":"!!!","e":"AQAB"}`), json.RawMessage(`"not an object"`))
	v := start(t, newConfig(iss))

	for _, tc := range []struct {
		name string
		tok  string
		want domain.Reason
	}{
		{"good key still works", iss.Token(iss.Claims("x")), "ok"},
		{"1024-bit RSA key ignored", jwtverifytest.Sign(t, weak, jwtverifytest.Header(weak), iss.Claims("x")), domain.ReasonUnknownKey},
		{"use enc key ignored", jwtverifytest.Sign(t, enc, jwtverifytest.Header(enc), iss.Claims("x")), domain.ReasonUnknownKey},
		{"encrypting key_ops ignored", jwtverifytest.Sign(t, ops, jwtverifytest.Header(ops), iss.Claims("x")), domain.ReasonUnknownKey},
		{"symmetric key ignored", hmacToken(t, []byte("secret-secret-secret-secret-secret"), `{"alg":"HS256","kid":"hs"}`, mustJSON(t, iss.Claims("x"))), domain.ReasonAlgorithm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.tok)
			if got := reasonOf(t, err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestRotationAndFlood(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	clk := &clock{}
	cfg := newConfig(iss)
	cfg.Now = clk.Now
	v := start(t, cfg)
	ctx := context.Background()
	clk.Advance(jwtverify.DefaultUnknownKeyCooldown)
	base := iss.JWKSHits.Load()

	// A flood of random kids costs one fetch per cooldown.
	// The tokens are signed here: a goroutine must not call t.Fatal.
	flood := make(chan error, 300)
	for i := range 300 {
		h := jwtverifytest.Header(iss.Key)
		h["kid"] = "random-" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
		tok := jwtverifytest.Sign(t, iss.Key, h, iss.Claims("x"))
		go func() {
			_, err := v.Verify(ctx, tok)
			flood <- err
		}()
	}
	for range 300 {
		if got := reasonOf(t, <-flood); got != domain.ReasonUnknownKey {
			t.Fatalf("flood token: got %q, want unknown_key", got)
		}
	}
	if n := iss.JWKSHits.Load() - base; n != 1 {
		t.Errorf("flood of 300 unknown kids: got %d JWKS fetches, want 1", n)
	}

	// The issuer rotates in a new key. Within the cooldown a token signed
	// with it is refused without a fetch; once the cooldown has passed the
	// first such token triggers a fetch and is accepted.
	k2 := jwtverifytest.NewRSAKey(t, "key-2", 1)
	iss.Publish(iss.Key, k2)
	tok2 := jwtverifytest.Sign(t, k2, jwtverifytest.Header(k2), iss.Claims("auth0|new"))
	before := iss.JWKSHits.Load()
	if _, err := v.Verify(ctx, tok2); reasonOf(t, err) != domain.ReasonUnknownKey {
		t.Fatalf("new key within cooldown: got %v, want unknown_key", err)
	}
	if iss.JWKSHits.Load() != before {
		t.Errorf("a fetch happened within the cooldown")
	}
	clk.Advance(jwtverify.DefaultUnknownKeyCooldown)
	if p, err := v.Verify(ctx, tok2); err != nil || p.Subject != "auth0|new" {
		t.Fatalf("rotated key after cooldown: got %v, want accepted", err)
	}

	// The old key is withdrawn: once keys are fetched again, its tokens fail.
	iss.Publish(k2)
	clk.Advance(jwtverify.DefaultUnknownKeyCooldown)
	h := jwtverifytest.Header(k2)
	h["kid"] = "trigger-a-refresh"
	if _, err := v.Verify(ctx, jwtverifytest.Sign(t, k2, h, iss.Claims("x"))); reasonOf(t, err) != domain.ReasonUnknownKey {
		t.Fatalf("token naming a kid nobody has: got %v, want unknown_key", err)
	}
	if _, err := v.Verify(ctx, iss.Token(iss.Claims("x"))); reasonOf(t, err) != domain.ReasonUnknownKey {
		t.Errorf("withdrawn key: got %v, want unknown_key", err)
	}
}

func TestLastGoodKeysSurviveBadFetches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(iss *jwtverifytest.Issuer)
	}{
		{"issuer down", func(iss *jwtverifytest.Issuer) { iss.SetDown(true) }},
		{"garbage body", func(iss *jwtverifytest.Issuer) { iss.SetJWKSBody([]byte("<html>oops</html>")) }},
		{"empty key set", func(iss *jwtverifytest.Issuer) { iss.PublishRaw() }},
		{"no keys member", func(iss *jwtverifytest.Issuer) { iss.SetJWKSBody([]byte(`{"kids":[]}`)) }},
		{"only unusable keys", func(iss *jwtverifytest.Issuer) { iss.PublishRaw(json.RawMessage(`{"kty":"oct","k":"AAAA"}`)) }},
		{"body over 1 MiB", func(iss *jwtverifytest.Issuer) {
			iss.SetJWKSBody([]byte(`{"keys":[],"pad":"` + strings.Repeat("A", 1<<20) + `"}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := jwtverifytest.NewIssuer(t)
			clk := &clock{}
			cfg := newConfig(iss)
			cfg.Now = clk.Now
			v := start(t, cfg)
			ctx := context.Background()
			good := iss.Token(iss.Claims("auth0|alice"))

			tc.break_(iss)
			clk.Advance(time.Minute)
			hits := iss.JWKSHits.Load()
			h := jwtverifytest.Header(iss.Key)
			h["kid"] = "unknown"
			if _, err := v.Verify(ctx, jwtverifytest.Sign(t, iss.Key, h, iss.Claims("x"))); reasonOf(t, err) != domain.ReasonUnknownKey {
				t.Fatalf("unknown kid: got %v, want unknown_key", err)
			}
			if iss.JWKSHits.Load() == hits {
				t.Fatalf("no fetch happened; the test proves nothing")
			}
			if _, err := v.Verify(ctx, good); err != nil {
				t.Errorf("token signed with the last good key: got %v, want accepted", err)
			}
			if err := v.Ready(ctx); err != nil {
				t.Errorf("Ready: got %v, want nil", err)
			}
		})
	}
}

func TestUnavailableUntilIssuerComesBack(t *testing.T) {
	t.Parallel()
	iss := jwtverifytest.NewIssuer(t)
	iss.SetDown(true)
	v := startNoWait(t, newConfig(iss)) // start-up does not wait for the issuer
	ctx := context.Background()
	good := iss.Token(iss.Claims("auth0|alice"))

	if err := v.Ready(ctx); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Ready while issuer down: got %v, want ErrUnavailable", err)
	}
	if _, err := v.Verify(ctx, good); !errors.Is(err, domain.ErrUnavailable) || errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("valid token while keys unavailable: got %v, want ErrUnavailable only", err)
	}
	if _, err := v.Verify(ctx, "garbage"); reasonOf(t, err) != domain.ReasonMalformed {
		t.Errorf("garbage while keys unavailable: got %v, want malformed", err)
	}
	if _, err := v.Verify(ctx, hmacToken(t, []byte("k"), `{"alg":"HS256"}`, mustJSON(t, iss.Claims("x")))); reasonOf(t, err) != domain.ReasonAlgorithm {
		t.Errorf("HS256 while keys unavailable: got %v, want algorithm", err)
	}

	// The issuer comes back; the background loop alone (no requests) must
	// pick the keys up well within 30 seconds.
	time.Sleep(1500 * time.Millisecond)
	iss.SetDown(false)
	back := time.Now()
	for v.Ready(ctx) != nil {
		if time.Since(back) > 30*time.Second {
			t.Fatalf("keys not loaded 30s after the issuer came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := v.Verify(ctx, good); err != nil {
		t.Errorf("valid token after issuer came back: got %v", err)
	}
}

func TestRequestTriggersLoadWhenIssuerReturns(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	iss.SetDown(true)
	clk := &clock{}
	cfg := newConfig(iss)
	cfg.Now = clk.Now
	v := startNoWait(t, cfg)
	ctx := context.Background()
	for iss.DiscoveryHits.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let the failed first fetch finish; the next is 1s away
	iss.SetDown(false)
	clk.Advance(jwtverify.DefaultUnknownKeyCooldown)
	// The background loop is backing off; the request asks for a fetch now.
	if _, err := v.Verify(ctx, iss.Token(iss.Claims("auth0|alice"))); err != nil {
		t.Errorf("first request after the issuer returned: got %v, want accepted", err)
	}
}

func TestSlowJWKSDoesNotHoldRequests(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(release)
	cfg := newConfig(iss)
	cfg.JWKSURI = hanging.URL + "/jwks.json"
	v := startNoWait(t, cfg)

	began := time.Now()
	_, err := v.Verify(context.Background(), iss.Token(iss.Claims("x")))
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("while the JWKS hangs: got %v, want ErrUnavailable", err)
	}
	// A bound, not a speed check: requests wait at most MaxWait for a fetch.
	if waited := time.Since(began); waited > jwtverify.DefaultMaxWait+2*time.Second {
		t.Errorf("request waited %v for a hanging JWKS; MaxWait is %v", waited, jwtverify.DefaultMaxWait)
	}
}

func TestFetchTimesOut(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	release := make(chan struct{})
	defer close(release)
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	cfg := newConfig(iss)
	cfg.JWKSURI = hanging.URL + "/jwks.json"
	cfg.FetchTimeout = 300 * time.Millisecond
	v, log := startLogged(t, cfg)
	// The client gives up on its own: the JWKS never answers.
	waitLog(t, log, "Client.Timeout exceeded")
	if v.Ready(context.Background()) == nil {
		t.Errorf("ready without keys")
	}
}

func TestDiscovery(t *testing.T) {
	t.Run("issuer configured without trailing slash", func(t *testing.T) {
		iss := jwtverifytest.NewIssuer(t)
		cfg := newConfig(iss)
		cfg.Name = strings.TrimSuffix(iss.URL, "/")
		v := start(t, cfg)
		if _, err := v.Verify(context.Background(), iss.Token(iss.Claims("x"))); err != nil {
			t.Errorf("token with discovered issuer %q: got %v", iss.URL, err)
		}
	})
	t.Run("falls back to RFC 8414 metadata", func(t *testing.T) {
		iss := jwtverifytest.NewIssuer(t)
		issuer := iss.Server.URL + "/tenant"
		var rfc8414 atomic.Int64
		iss.Handle("/.well-known/oauth-authorization-server/tenant", func(w http.ResponseWriter, r *http.Request) {
			rfc8414.Add(1)
			w.Write([]byte(`{"issuer":"` + issuer + `","jwks_uri":"` + iss.JWKSURL() + `"}`))
		})
		cfg := newConfig(iss)
		cfg.Name = issuer
		v := start(t, cfg)
		if rfc8414.Load() == 0 {
			t.Fatalf("RFC 8414 metadata was not fetched")
		}
		c := iss.Claims("x")
		c["iss"] = issuer
		if _, err := v.Verify(context.Background(), iss.Token(c)); err != nil {
			t.Errorf("token from path issuer: got %v", err)
		}
	})
	t.Run("discovered issuer must match", func(t *testing.T) {
		iss := jwtverifytest.NewIssuer(t)
		iss.SetDiscovery(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"issuer":"https://evil.example/","jwks_uri":"` + iss.JWKSURL() + `"}`))
		})
		v, log := startLogged(t, newConfig(iss))
		waitLog(t, log, `names issuer \"https://evil.example/\"`)
		if v.Ready(context.Background()) == nil {
			t.Fatalf("ready with a discovery document naming another issuer")
		}
		if iss.JWKSHits.Load() != 0 {
			t.Errorf("JWKS fetched from a mismatched discovery document")
		}
	})
	t.Run("jwks_uri over plain http to a remote host is refused", func(t *testing.T) {
		iss := jwtverifytest.NewIssuer(t)
		iss.SetDiscovery(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"issuer":"` + iss.URL + `","jwks_uri":"http://keys.example.com/jwks.json"}`))
		})
		v, log := startLogged(t, newConfig(iss))
		waitLog(t, log, "jwks_uri")
		if !strings.Contains(log.String(), "must use https") {
			t.Errorf("log does not say why the jwks_uri was refused:\n%s", log.String())
		}
		if v.Ready(context.Background()) == nil {
			t.Fatalf("ready with an http jwks_uri")
		}
	})
	t.Run("JWKS_URI skips discovery", func(t *testing.T) {
		iss := jwtverifytest.NewIssuer(t)
		cfg := newConfig(iss)
		cfg.JWKSURI = iss.JWKSURL()
		v := start(t, cfg)
		if iss.DiscoveryHits.Load() != 0 {
			t.Errorf("discovery fetched %d times, want 0", iss.DiscoveryHits.Load())
		}
		if _, err := v.Verify(context.Background(), iss.Token(iss.Claims("x"))); err != nil {
			t.Errorf("got %v", err)
		}
	})
}

// The engine refuses what it cannot verify safely, whatever the provider
// checked before. (An empty audience list is not refused: providers whose
// tokens have no "aud" bind them to the API in their Check.)
func TestConfigErrors(t *testing.T) {
	ok := config{Issuer: jwtverify.Issuer{Name: "https://tenant.example.com/", Audiences: []string{"https://api"}}}
	secret := make([]byte, 32)
	for _, tc := range []struct {
		name string
		mod  func(c *config)
		want string
	}{
		{"no issuer", func(c *config) { c.Name = "" }, "issuer"},
		{"relative issuer", func(c *config) { c.Name = "tenant.example.com" }, "absolute"},
		{"http issuer", func(c *config) { c.Name = "http://tenant.example.com/" }, "https"},
		{"issuer with query", func(c *config) { c.Name = "https://tenant.example.com/?a=b" }, "query"},
		{"discovery URL as issuer", func(c *config) {
			c.Name = "https://tenant.example.com/.well-known/openid-configuration"
		}, "discovery document"},
		{"blank audience", func(c *config) { c.Audiences = []string{" "} }, "audience"},
		{"http JWKS", func(c *config) { c.JWKSURI = "http://tenant.example.com/jwks.json" }, "https"},
		{"HS256", func(c *config) { c.Algorithms = []string{"HS256"} }, "shared-secret"},
		{"none", func(c *config) { c.Algorithms = []string{"none"} }, "never allowed"},
		{"unknown alg", func(c *config) { c.Algorithms = []string{"rs256"} }, "unknown algorithm"},
		{"negative tolerance", func(c *config) { c.ClockTolerance = -time.Second }, "negative"},
		{"negative cache size", func(c *config) { c.CacheSize = -1 }, "negative"},
		{"secret with RS256", func(c *config) { c.Secret, c.Algorithms = secret, []string{"RS256"} }, "not a shared-secret algorithm"},
		{"secret too short for HS512", func(c *config) { c.Secret, c.Algorithms = secret, []string{"HS512"} }, "needs at least 64"},
		{"secret and a JWKS URI", func(c *config) { c.Secret, c.JWKSURI = secret, "https://tenant.example.com/jwks" }, "JWKS URI"},
		{"issuer with spaces", func(c *config) { c.Secret, c.Name = secret, "legacy issuer" }, "without spaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, _, err := jwtverify.New(context.Background(), c.Options, []jwtverify.Issuer{c.Issuer}, quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("loopback http is fine", func(t *testing.T) {
		for _, u := range []string{"http://localhost:4000/", "http://127.0.0.1:4000/", "http://[::1]:4000/"} {
			c := ok
			c.Name = u
			_, cleanup, err := jwtverify.New(context.Background(), c.Options, []jwtverify.Issuer{c.Issuer}, quiet, prometheus.NewRegistry())
			if err != nil {
				t.Errorf("%s: got %v, want nil", u, err)
				continue
			}
			cleanup()
		}
	})
	t.Run("several issuers", func(t *testing.T) {
		a := jwtverify.Issuer{Name: "https://a.example/", JWKSURI: "https://keys.example/jwks"}
		for _, tc := range []struct {
			name string
			b    jwtverify.Issuer
			want string
		}{
			{"one JWKS", jwtverify.Issuer{Name: "https://b.example/", JWKSURI: a.JWKSURI}, "cannot be shared"},
			{"one over http", jwtverify.Issuer{Name: "http://b.example/"}, "must use https"},
			{"the same twice", jwtverify.Issuer{Name: "https://a.example"}, "given twice"},
			{"a secret beside keys", jwtverify.Issuer{Name: "legacy", Secret: secret}, "cannot be mixed"},
		} {
			_, _, err := jwtverify.New(context.Background(), jwtverify.Options{}, []jwtverify.Issuer{a, tc.b}, quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: got %v, want an error mentioning %q", tc.name, err, tc.want)
			}
		}
	})
}

// With several issuers, each token is verified with the keys of the
// issuer it names and no other: a token claiming one issuer but signed
// with another's key is refused. This test runs before any valid token,
// and alone, so that keys routed to the wrong issuer fail it here rather
// than only by a valid token of the other issuer being refused.
func TestForgedIssuerIsRefused(t *testing.T) {
	a := jwtverifytest.NewIssuer(t)
	b := jwtverifytest.NewIssuer(t)
	b.Key = jwtverifytest.NewRSAKey(t, "key-1", 1) // the same kid as a's key, another key
	b.Publish(b.Key)
	onlyA := jwtverifytest.NewRSAKey(t, "only-a", 2)
	a.Publish(a.Key, onlyA)
	cfgA, cfgB := newConfig(a), newConfig(b)
	v := newMulti(t, cfgA.Options, quiet, prometheus.NewRegistry(), cfgA.Issuer, cfgB.Issuer)
	waitReady(t, v)

	for _, tc := range []struct {
		name string
		tok  func(t *testing.T) string
		want domain.Reason
	}{
		{"b's claims signed by a's key, kid both have", func(t *testing.T) string {
			return a.Token(b.Claims("auth0|forged"))
		}, domain.ReasonSignature},
		{"b's claims signed by a's key, kid only a has", func(t *testing.T) string {
			return jwtverifytest.Sign(t, onlyA, jwtverifytest.Header(onlyA), b.Claims("auth0|forged"))
		}, domain.ReasonUnknownKey},
		{"a's claims signed by b's key, kid both have", func(t *testing.T) string {
			return b.Token(a.Claims("auth0|forged"))
		}, domain.ReasonSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tc.tok(t)); reasonOf(t, err) != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestMultipleIssuers(t *testing.T) {
	a := jwtverifytest.NewIssuer(t)
	b := jwtverifytest.NewIssuer(t)
	b.Key = jwtverifytest.NewRSAKey(t, "key-1", 1) // the same kid as a's key, another key
	b.Publish(b.Key)
	c := jwtverifytest.NewIssuer(t)
	cfgA, cfgB := newConfig(a), newConfig(b)
	v := newMulti(t, cfgA.Options, quiet, prometheus.NewRegistry(), cfgA.Issuer, cfgB.Issuer)
	waitReady(t, v)
	ctx := context.Background()

	verifyOK := func(tok string) domain.Principal {
		t.Helper()
		p, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return p
	}
	if p := verifyOK(a.Token(a.Claims("auth0|from-a"))); p.Issuer != a.URL {
		t.Errorf("issuer a: got %q", p.Issuer)
	}
	if p := verifyOK(b.Token(b.Claims("auth0|from-b"))); p.Issuer != b.URL {
		t.Errorf("issuer b: got %q", p.Issuer)
	}

	// Tokens claiming one issuer signed with the other's keys: see
	// TestForgedIssuerIsRefused.

	// Garbage is malformed before any issuer is picked.
	for _, garbage := range []string{"", "invalidToken abc", "a.b", "a.!!!.c", b64("[1]") + "." + b64("[1]") + ".c2ln",
		b64(`{"alg":"RS256"}`) + "." + b64(`{"iss":"https://nobody.example/"}`), // two segments
	} {
		if _, err := v.Verify(ctx, garbage); reasonOf(t, err) != domain.ReasonMalformed {
			t.Errorf("%q with several issuers: got %v, want malformed", garbage, err)
		}
	}
	if _, err := v.Verify(ctx, "e30."+b64(`{"iss":7}`)+".c2ln"); reasonOf(t, err) != domain.ReasonClaimType {
		t.Errorf("iss a number with several issuers: got %v, want bad_claim", err)
	}

	// An unknown issuer is refused before any network fetch.
	hits := a.DiscoveryHits.Load() + a.JWKSHits.Load() + b.DiscoveryHits.Load() + b.JWKSHits.Load()
	for _, tok := range []string{
		c.Token(c.Claims("auth0|c")),
		a.Token(map[string]any{"sub": "x", "aud": jwtverifytest.Audience, "exp": time.Now().Add(time.Hour).Unix()}),
	} {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("unknown or missing issuer: got %v", err)
		}
	}
	if _, err := v.Verify(ctx, c.Token(c.Claims("auth0|c"))); reasonOf(t, err) != domain.ReasonIssuer {
		t.Errorf("unknown issuer: got %v, want wrong_issuer", err)
	}
	if now := a.DiscoveryHits.Load() + a.JWKSHits.Load() + b.DiscoveryHits.Load() + b.JWKSHits.Load(); now != hits {
		t.Errorf("tokens of unknown issuers caused %d fetches", now-hits)
	}
	if c.DiscoveryHits.Load()+c.JWKSHits.Load() != 0 {
		t.Errorf("the unknown issuer was contacted")
	}
}
