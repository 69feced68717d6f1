package auth0_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/auth0/auth0test"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports/verifiertest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a test clock: real time plus an offset tests can move.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
func newConfig(iss *auth0test.Issuer) auth0.Config {
	return auth0.Config{
		IssuerBaseURL:  iss.URL,
		Audiences:      []string{auth0test.Audience},
		ClockTolerance: 5 * time.Second,
	}
}

// start builds a verifier for cfg and waits until its keys are loaded.
func start(t *testing.T, cfg auth0.Config) *auth0.Verifier {
	t.Helper()
	v := startNoWait(t, cfg)
	waitReady(t, v)
	return v
}

func startNoWait(t *testing.T, cfg auth0.Config) *auth0.Verifier {
	t.Helper()
	return newVerifier(t, cfg, quiet, prometheus.NewRegistry())
}

// newVerifier builds a verifier that stops when the test ends; it does not
// wait for keys.
func newVerifier(t testing.TB, cfg auth0.Config, log *slog.Logger, reg *prometheus.Registry) *auth0.Verifier {
	t.Helper()
	v, cleanup, err := auth0.New(context.Background(), cfg, log, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	return v
}

func waitReady(t testing.TB, v *auth0.Verifier) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for v.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("keys not loaded after 10s: %v", v.Ready(context.Background()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reasonOf returns the refusal reason of err, "ok" for nil, or fails.
func reasonOf(t *testing.T, err error) domain.Reason {
	t.Helper()
	if err == nil {
		return "ok"
	}
	var te *domain.TokenError
	if !errors.As(err, &te) || !errors.Is(err, domain.ErrInvalidToken) {
		t.Fatalf("got error %v (%T), want a *domain.TokenError", err, err)
	}
	return te.Reason
}

func TestContract(t *testing.T) {
	iss := auth0test.NewIssuer(t)
	v := start(t, newConfig(iss))
	verifiertest.Run(t, verifiertest.Harness{
		Verifier: v,
		Issuer:   iss.URL,
		Audience: auth0test.Audience,
		Mint: func(t *testing.T, g verifiertest.Grant) string {
			c := iss.Claims(g.Subject, g.Scopes...)
			c["exp"] = time.Now().Add(g.TTL).Unix()
			if g.TTL < 0 {
				c["iat"] = time.Now().Add(2 * g.TTL).Unix()
			}
			return iss.Token(c)
		},
	})
}

func TestPrincipalMapping(t *testing.T) {
	iss := auth0test.NewIssuer(t)
	v := start(t, newConfig(iss))
	c := iss.Claims("auth0|alice", "openid", "read:messages")
	c["permissions"] = []string{"read:messages", "delete:messages"}
	c["https://example.com/roles"] = []string{"admin"}
	p, err := v.Verify(context.Background(), iss.Token(c))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != "auth0|alice" || p.Issuer != iss.URL || p.ClientID != "test-client" {
		t.Errorf("got subject %q issuer %q client %q, want auth0|alice %q test-client", p.Subject, p.Issuer, p.ClientID, iss.URL)
	}
	if want := []string{auth0test.Audience, iss.URL + "userinfo"}; !slices.Equal(p.Audiences, want) {
		t.Errorf("Audiences: got %q, want %q", p.Audiences, want)
	}
	if want := []string{"openid", "read:messages"}; !slices.Equal(p.Scopes, want) {
		t.Errorf("Scopes: got %q, want %q", p.Scopes, want)
	}
	if want := []string{"read:messages", "delete:messages"}; !slices.Equal(p.Permissions, want) {
		t.Errorf("Permissions: got %q, want %q", p.Permissions, want)
	}
	if p.IssuedAt.IsZero() || p.ExpiresAt.Sub(p.IssuedAt) != time.Hour {
		t.Errorf("IssuedAt %v ExpiresAt %v, want one hour apart", p.IssuedAt, p.ExpiresAt)
	}
	if _, ok := p.Claims["https://example.com/roles"]; !ok {
		t.Errorf("Claims: custom claim missing from %v", slices.Collect(maps.Keys(p.Claims)))
	}
}

// hostile is one refused (or, as a control, accepted) token.
type hostile struct {
	name string
	tok  func(t *testing.T, iss *auth0test.Issuer) string
	want domain.Reason
}

// withClaims returns a token whose claims are the defaults changed by f.
func withClaims(f func(c map[string]any)) func(*testing.T, *auth0test.Issuer) string {
	return func(_ *testing.T, iss *auth0test.Issuer) string {
		c := iss.Claims("auth0|mallory", "read:messages")
		f(c)
		return iss.Token(c)
	}
}

// withHeader returns a token signed by the issuer's key whose header is the
// default changed by f.
func withHeader(f func(h map[string]any)) func(*testing.T, *auth0test.Issuer) string {
	return func(t *testing.T, iss *auth0test.Issuer) string {
		h := auth0test.Header(iss.Key)
		f(h)
		return auth0test.Sign(t, iss.Key, h, iss.Claims("auth0|mallory", "read:messages"))
	}
}

// raw returns a token built from header and payload JSON as given, signed
// by the issuer's key with RS256.
func raw(header, payload string) func(*testing.T, *auth0test.Issuer) string {
	return func(t *testing.T, iss *auth0test.Issuer) string {
		return auth0test.SignRaw(t, iss.Key, "RS256", []byte(header), []byte(payload))
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// hmacToken signs header and payload with HMAC-SHA256 and secret.
func hmacToken(t *testing.T, secret []byte, header, payload string) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
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
func startLogged(t *testing.T, cfg auth0.Config) (*auth0.Verifier, *syncBuffer) {
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
	iss := auth0test.NewIssuer(t)
	v := start(t, newConfig(iss))
	now := time.Now()
	attacker := auth0test.NewRSAKey(t, "key-1", 1) // same kid as the real key, other key

	cases := []hostile{
		// Controls: these are fine.
		{"valid", withClaims(func(map[string]any) {}), "ok"},
		{"typ absent", withHeader(func(h map[string]any) { delete(h, "typ") }), "ok"},
		{"typ JWT", withHeader(func(h map[string]any) { h["typ"] = "JWT" }), "ok"},
		{"typ application/at+jwt mixed case", withHeader(func(h map[string]any) { h["typ"] = "Application/AT+JWT" }), "ok"},
		{"no kid, one key", withHeader(func(h map[string]any) { delete(h, "kid") }), "ok"},
		{"aud as a string", withClaims(func(c map[string]any) { c["aud"] = auth0test.Audience }), "ok"},
		{"exp just past, within leeway", withClaims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Second).Unix() }), "ok"},
		{"nbf just ahead, within leeway", withClaims(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Second).Unix() }), "ok"},
		{"exp as a fraction", withClaims(func(c map[string]any) { c["exp"] = float64(now.Add(time.Hour).Unix()) + 0.5 }), "ok"},
		{"no sub (a machine token, as some issuers make them)", withClaims(func(c map[string]any) { delete(c, "sub") }), "ok"},

		// Shape.
		{"empty", func(*testing.T, *auth0test.Issuer) string { return "" }, domain.ReasonMalformed},
		{"one segment", func(*testing.T, *auth0test.Issuer) string { return "invalidToken" }, domain.ReasonMalformed},
		{"space inside", func(*testing.T, *auth0test.Issuer) string { return "invalidToken abc" }, domain.ReasonMalformed},
		{"two segments", func(t *testing.T, iss *auth0test.Issuer) string {
			tok := iss.Token(iss.Claims("x"))
			return tok[:strings.LastIndex(tok, ".")]
		}, domain.ReasonMalformed},
		{"four segments", func(t *testing.T, iss *auth0test.Issuer) string { return iss.Token(iss.Claims("x")) + ".abc" }, domain.ReasonMalformed},
		{"JWE (five segments)", func(*testing.T, *auth0test.Issuer) string { return "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d" }, domain.ReasonMalformed},
		{"empty signature", func(t *testing.T, iss *auth0test.Issuer) string {
			tok := iss.Token(iss.Claims("x"))
			return tok[:strings.LastIndex(tok, ".")+1]
		}, domain.ReasonMalformed},
		{"padding characters", func(t *testing.T, iss *auth0test.Issuer) string { return iss.Token(iss.Claims("x")) + "==" }, domain.ReasonMalformed},
		{"standard base64 alphabet", func(t *testing.T, iss *auth0test.Issuer) string {
			return strings.Replace(iss.Token(iss.Claims("x")), "e", "+", 1)
		}, domain.ReasonMalformed},
		{"non-canonical base64 (trailing bits)", func(t *testing.T, iss *auth0test.Issuer) string {
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
		{"payload with trailing garbage", func(t *testing.T, iss *auth0test.Issuer) string {
			c, _ := json.Marshal(iss.Claims("x"))
			return auth0test.SignRaw(t, iss.Key, "RS256", []byte(`{"alg":"RS256","kid":"key-1"}`), append(c, []byte(" x")...))
		}, domain.ReasonMalformed},
		{"payload not JSON", raw(`{"alg":"RS256","kid":"key-1"}`, `hello`), domain.ReasonMalformed},
		{"payload null", raw(`{"alg":"RS256","kid":"key-1"}`, `null`), domain.ReasonMissingClaim},
		{"200 KB token", func(t *testing.T, iss *auth0test.Issuer) string {
			c := iss.Claims("x")
			c["pad"] = strings.Repeat("A", 200_000)
			return iss.Token(c)
		}, domain.ReasonTooLarge},
		{"60,000 dots", func(*testing.T, *auth0test.Issuer) string { return strings.Repeat(".", 60_000) }, domain.ReasonTooLarge},
		{"10,000 dots", func(*testing.T, *auth0test.Issuer) string { return strings.Repeat(".", 10_000) }, domain.ReasonMalformed},

		// Algorithm.
		{"alg none, unsigned", func(t *testing.T, iss *auth0test.Issuer) string {
			return b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(mustJSON(t, iss.Claims("x"))) + "."
		}, domain.ReasonMalformed},
		{"alg none with a signature", func(t *testing.T, iss *auth0test.Issuer) string {
			return b64(`{"alg":"none","kid":"key-1"}`) + "." + b64(mustJSON(t, iss.Claims("x"))) + ".c2ln"
		}, domain.ReasonAlgorithm},
		{"alg None", func(t *testing.T, iss *auth0test.Issuer) string {
			return b64(`{"alg":"None","kid":"key-1"}`) + "." + b64(mustJSON(t, iss.Claims("x"))) + ".c2ln"
		}, domain.ReasonAlgorithm},
		{"HS256 with the RSA public key as secret", func(t *testing.T, iss *auth0test.Issuer) string {
			der, err := x509.MarshalPKIXPublicKey(iss.Key.Public())
			if err != nil {
				t.Fatal(err)
			}
			pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			return hmacToken(t, pemKey, `{"alg":"HS256","typ":"JWT","kid":"key-1"}`, mustJSON(t, iss.Claims("x")))
		}, domain.ReasonAlgorithm},
		{"lower-case rs256", withHeader(func(h map[string]any) { h["alg"] = "rs256" }), domain.ReasonAlgorithm},
		{"RS384 not allowed", func(t *testing.T, iss *auth0test.Issuer) string {
			h := auth0test.Header(iss.Key)
			h["alg"] = "RS384"
			return auth0test.Sign(t, iss.Key, h, iss.Claims("x"))
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
		{"signed by another key with the real kid", func(t *testing.T, iss *auth0test.Issuer) string {
			return auth0test.Sign(t, attacker, auth0test.Header(attacker), iss.Claims("x", "read:messages"))
		}, domain.ReasonSignature},
		{"embedded jwk of the attacker", func(t *testing.T, iss *auth0test.Issuer) string {
			h := auth0test.Header(attacker)
			h["kid"] = "attacker"
			h["jwk"] = json.RawMessage(attacker.JWK(t))
			return auth0test.Sign(t, attacker, h, iss.Claims("x", "read:messages"))
		}, domain.ReasonUnknownKey},
		{"embedded jwk with the real kid", func(t *testing.T, iss *auth0test.Issuer) string {
			h := auth0test.Header(attacker)
			h["jwk"] = json.RawMessage(attacker.JWK(t))
			return auth0test.Sign(t, attacker, h, iss.Claims("x", "read:messages"))
		}, domain.ReasonSignature},
		{"jku to the attacker", func(t *testing.T, iss *auth0test.Issuer) string {
			h := auth0test.Header(attacker)
			h["kid"] = "attacker"
			h["jku"] = "http://127.0.0.1:1/jwks.json"
			h["x5u"] = "http://127.0.0.1:1/cert.pem"
			return auth0test.Sign(t, attacker, h, iss.Claims("x", "read:messages"))
		}, domain.ReasonUnknownKey},
		{"no kid, signed by the attacker", func(t *testing.T, iss *auth0test.Issuer) string {
			h := auth0test.Header(attacker)
			delete(h, "kid")
			return auth0test.Sign(t, attacker, h, iss.Claims("x", "read:messages"))
		}, domain.ReasonSignature},
		{"ES256 with the RSA key's kid", func(t *testing.T, iss *auth0test.Issuer) string {
			ec := auth0test.NewECKey(t, "key-1", "ES256")
			return auth0test.Sign(t, ec, auth0test.Header(ec), iss.Claims("x"))
		}, domain.ReasonAlgorithm},
		{"signature bit flipped", func(t *testing.T, iss *auth0test.Issuer) string {
			tok := iss.Token(iss.Claims("x"))
			i := strings.LastIndex(tok, ".") + 5
			c := byte('A')
			if tok[i] == 'A' {
				c = 'B'
			}
			return tok[:i] + string(c) + tok[i+1:]
		}, domain.ReasonSignature},
		{"payload swapped after signing", func(t *testing.T, iss *auth0test.Issuer) string {
			a := strings.Split(iss.Token(iss.Claims("auth0|mallory")), ".")
			b := strings.Split(iss.Token(iss.Claims("auth0|admin", "read:messages", "admin")), ".")
			return a[0] + "." + b[1] + "." + a[2]
		}, domain.ReasonSignature},
		{"signature with text appended", func(t *testing.T, iss *auth0test.Issuer) string {
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
		{"aud in other case", withClaims(func(c map[string]any) { c["aud"] = strings.ToUpper(auth0test.Audience) }), domain.ReasonAudience},
		{"aud with a trailing slash", withClaims(func(c map[string]any) { c["aud"] = auth0test.Audience + "/" }), domain.ReasonAudience},
		{"aud prefix of ours", withClaims(func(c map[string]any) { c["aud"] = auth0test.Audience[:10] }), domain.ReasonAudience},
		{"aud missing", withClaims(func(c map[string]any) { delete(c, "aud") }), domain.ReasonMissingClaim},
		{"aud only as AUD", withClaims(func(c map[string]any) { c["AUD"] = c["aud"]; delete(c, "aud") }), domain.ReasonMissingClaim},
		{"aud empty array", withClaims(func(c map[string]any) { c["aud"] = []string{} }), domain.ReasonMissingClaim},
		{"aud a number", withClaims(func(c map[string]any) { c["aud"] = 1 }), domain.ReasonMissingClaim},
		{"aud array with a number", withClaims(func(c map[string]any) { c["aud"] = []any{auth0test.Audience, 1} }), domain.ReasonClaimType},
		{"sub a number", withClaims(func(c map[string]any) { c["sub"] = 42 }), domain.ReasonClaimType},
		{"sub empty", withClaims(func(c map[string]any) { c["sub"] = "" }), domain.ReasonClaimType},
		{"scope an array", withClaims(func(c map[string]any) { c["scope"] = []string{"read:messages"} }), domain.ReasonClaimType},
		{"permissions a string", withClaims(func(c map[string]any) { c["permissions"] = "read:messages" }), domain.ReasonClaimType},
		{"permissions with a number", withClaims(func(c map[string]any) { c["permissions"] = []any{"read:messages", 1} }), domain.ReasonClaimType},
		{"azp a number", withClaims(func(c map[string]any) { c["azp"] = 1 }), domain.ReasonClaimType},
		{"client_id an object", withClaims(func(c map[string]any) { c["client_id"] = map[string]any{} }), domain.ReasonClaimType},
		{"jti a number", withClaims(func(c map[string]any) { c["jti"] = 7 }), domain.ReasonClaimType},
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

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAlgorithms(t *testing.T) {
	iss := auth0test.NewIssuer(t)
	rsaNoAlg := auth0test.NewRSAKey(t, "rsa-no-alg", 1)
	rsaNoAlg.JWKAlg = ""
	es256 := auth0test.NewECKey(t, "ec-256", "ES256")
	es384 := auth0test.NewECKey(t, "ec-384", "ES384")
	es384NoAlg := auth0test.NewECKey(t, "ec-384-no-alg", "ES384")
	es384NoAlg.JWKAlg = ""
	ed := auth0test.NewEdKey(t, "ed")
	iss.Publish(iss.Key, rsaNoAlg, es256, es384, es384NoAlg, ed)
	cfg := newConfig(iss)
	cfg.Algorithms = []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}
	v := start(t, cfg)

	sign := func(k *auth0test.Key, alg string) string {
		h := auth0test.Header(k)
		h["alg"] = alg
		return auth0test.Sign(t, k, h, iss.Claims("x"))
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
			h := auth0test.Header(es384NoAlg)
			h["alg"] = "ES256"
			c, _ := json.Marshal(iss.Claims("x"))
			hj, _ := json.Marshal(h)
			return auth0test.SignRaw(t, es384NoAlg, "ES384", hj, c)
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

func TestJWKSHygiene(t *testing.T) {
	iss := auth0test.NewIssuer(t)
	weak := auth0test.NewRSAKeyBits(t, "weak", 1024)
	enc := auth0test.NewRSAKey(t, "enc", 1)
	enc.Use = "enc"
	ops := auth0test.NewRSAKey(t, "ops", 2)
	opsJWK := map[string]any{}
	json.Unmarshal(ops.JWK(t), &opsJWK)
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
		{"1024-bit RSA key ignored", auth0test.Sign(t, weak, auth0test.Header(weak), iss.Claims("x")), domain.ReasonUnknownKey},
		{"use enc key ignored", auth0test.Sign(t, enc, auth0test.Header(enc), iss.Claims("x")), domain.ReasonUnknownKey},
		{"encrypting key_ops ignored", auth0test.Sign(t, ops, auth0test.Header(ops), iss.Claims("x")), domain.ReasonUnknownKey},
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
	iss := auth0test.NewIssuer(t)
	clk := &clock{}
	cfg := newConfig(iss)
	cfg.Now = clk.Now
	v := start(t, cfg)
	ctx := context.Background()
	clk.Advance(auth0.DefaultUnknownKeyCooldown)
	base := iss.JWKSHits.Load()

	// A flood of random kids costs one fetch per cooldown.
	flood := make(chan error, 300)
	for i := range 300 {
		go func() {
			h := auth0test.Header(iss.Key)
			h["kid"] = "random-" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
			_, err := v.Verify(ctx, auth0test.Sign(t, iss.Key, h, iss.Claims("x")))
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
	k2 := auth0test.NewRSAKey(t, "key-2", 1)
	iss.Publish(iss.Key, k2)
	tok2 := auth0test.Sign(t, k2, auth0test.Header(k2), iss.Claims("auth0|new"))
	before := iss.JWKSHits.Load()
	if _, err := v.Verify(ctx, tok2); reasonOf(t, err) != domain.ReasonUnknownKey {
		t.Fatalf("new key within cooldown: got %v, want unknown_key", err)
	}
	if iss.JWKSHits.Load() != before {
		t.Errorf("a fetch happened within the cooldown")
	}
	clk.Advance(auth0.DefaultUnknownKeyCooldown)
	if p, err := v.Verify(ctx, tok2); err != nil || p.Subject != "auth0|new" {
		t.Fatalf("rotated key after cooldown: got %v, want accepted", err)
	}

	// The old key is withdrawn: once keys are fetched again, its tokens fail.
	iss.Publish(k2)
	clk.Advance(auth0.DefaultUnknownKeyCooldown)
	h := auth0test.Header(k2)
	h["kid"] = "trigger-a-refresh"
	v.Verify(ctx, auth0test.Sign(t, k2, h, iss.Claims("x")))
	if _, err := v.Verify(ctx, iss.Token(iss.Claims("x"))); reasonOf(t, err) != domain.ReasonUnknownKey {
		t.Errorf("withdrawn key: got %v, want unknown_key", err)
	}
}

func TestLastGoodKeysSurviveBadFetches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(iss *auth0test.Issuer)
	}{
		{"issuer down", func(iss *auth0test.Issuer) { iss.SetDown(true) }},
		{"garbage body", func(iss *auth0test.Issuer) { iss.SetJWKSBody([]byte("<html>oops</html>")) }},
		{"empty key set", func(iss *auth0test.Issuer) { iss.PublishRaw() }},
		{"no keys member", func(iss *auth0test.Issuer) { iss.SetJWKSBody([]byte(`{"kids":[]}`)) }},
		{"only unusable keys", func(iss *auth0test.Issuer) { iss.PublishRaw(json.RawMessage(`{"kty":"oct","k":"AAAA"}`)) }},
		{"body over 1 MiB", func(iss *auth0test.Issuer) {
			iss.SetJWKSBody([]byte(`{"keys":[],"pad":"` + strings.Repeat("A", 1<<20) + `"}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := auth0test.NewIssuer(t)
			clk := &clock{}
			cfg := newConfig(iss)
			cfg.Now = clk.Now
			v := start(t, cfg)
			ctx := context.Background()
			good := iss.Token(iss.Claims("auth0|alice"))

			tc.break_(iss)
			clk.Advance(time.Minute)
			hits := iss.JWKSHits.Load()
			h := auth0test.Header(iss.Key)
			h["kid"] = "unknown"
			if _, err := v.Verify(ctx, auth0test.Sign(t, iss.Key, h, iss.Claims("x"))); reasonOf(t, err) != domain.ReasonUnknownKey {
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
	iss := auth0test.NewIssuer(t)
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
	iss := auth0test.NewIssuer(t)
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
	clk.Advance(auth0.DefaultUnknownKeyCooldown)
	// The background loop is backing off; the request asks for a fetch now.
	if _, err := v.Verify(ctx, iss.Token(iss.Claims("auth0|alice"))); err != nil {
		t.Errorf("first request after the issuer returned: got %v, want accepted", err)
	}
}

func TestSlowJWKSDoesNotHoldRequests(t *testing.T) {
	iss := auth0test.NewIssuer(t)
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
	if waited := time.Since(began); waited > auth0.DefaultMaxWait+2*time.Second {
		t.Errorf("request waited %v for a hanging JWKS; MaxWait is %v", waited, auth0.DefaultMaxWait)
	}
}

func TestFetchTimesOut(t *testing.T) {
	iss := auth0test.NewIssuer(t)
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
		iss := auth0test.NewIssuer(t)
		cfg := newConfig(iss)
		cfg.IssuerBaseURL = strings.TrimSuffix(iss.URL, "/")
		v := start(t, cfg)
		if _, err := v.Verify(context.Background(), iss.Token(iss.Claims("x"))); err != nil {
			t.Errorf("token with discovered issuer %q: got %v", iss.URL, err)
		}
	})
	t.Run("falls back to RFC 8414 metadata", func(t *testing.T) {
		iss := auth0test.NewIssuer(t)
		issuer := iss.Server.URL + "/tenant"
		var rfc8414 atomic.Int64
		iss.Handle("/.well-known/oauth-authorization-server/tenant", func(w http.ResponseWriter, r *http.Request) {
			rfc8414.Add(1)
			w.Write([]byte(`{"issuer":"` + issuer + `","jwks_uri":"` + iss.JWKSURL() + `"}`))
		})
		cfg := newConfig(iss)
		cfg.IssuerBaseURL = issuer
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
		iss := auth0test.NewIssuer(t)
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
		iss := auth0test.NewIssuer(t)
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
		iss := auth0test.NewIssuer(t)
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

func TestConfigErrors(t *testing.T) {
	ok := auth0.Config{IssuerBaseURL: "https://tenant.auth0.com/", Audiences: []string{"https://api"}}
	for _, tc := range []struct {
		name string
		mod  func(c *auth0.Config)
		want string
	}{
		{"no issuer", func(c *auth0.Config) { c.IssuerBaseURL = "" }, "issuer"},
		{"relative issuer", func(c *auth0.Config) { c.IssuerBaseURL = "tenant.auth0.com" }, "absolute"},
		{"http issuer", func(c *auth0.Config) { c.IssuerBaseURL = "http://tenant.auth0.com/" }, "https"},
		{"issuer with query", func(c *auth0.Config) { c.IssuerBaseURL = "https://tenant.auth0.com/?a=b" }, "query"},
		{"discovery URL as issuer", func(c *auth0.Config) {
			c.IssuerBaseURL = "https://tenant.auth0.com/.well-known/openid-configuration"
		}, "discovery document"},
		{"no audience", func(c *auth0.Config) { c.Audiences = nil }, "audience"},
		{"blank audience", func(c *auth0.Config) { c.Audiences = []string{" "} }, "audience"},
		{"http JWKS", func(c *auth0.Config) { c.JWKSURI = "http://tenant.auth0.com/jwks.json" }, "https"},
		{"HS256", func(c *auth0.Config) { c.Algorithms = []string{"HS256"} }, "shared-secret"},
		{"none", func(c *auth0.Config) { c.Algorithms = []string{"none"} }, "never allowed"},
		{"unknown alg", func(c *auth0.Config) { c.Algorithms = []string{"rs256"} }, "unknown algorithm"},
		{"negative tolerance", func(c *auth0.Config) { c.ClockTolerance = -time.Second }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, _, err := auth0.New(context.Background(), c, quiet, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("loopback http is fine", func(t *testing.T) {
		for _, u := range []string{"http://localhost:4000/", "http://127.0.0.1:4000/", "http://[::1]:4000/"} {
			c := ok
			c.IssuerBaseURL = u
			_, cleanup, err := auth0.New(context.Background(), c, quiet, prometheus.NewRegistry())
			if err != nil {
				t.Errorf("%s: got %v, want nil", u, err)
				continue
			}
			cleanup()
		}
	})
}
