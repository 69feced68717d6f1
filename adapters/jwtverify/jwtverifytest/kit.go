package jwtverifytest

import (
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
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Clock is a test clock: real time plus an offset tests can move.
type Clock struct{ offset atomic.Int64 }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// StoppedClock is a clock that moves only when a test sets it, so a
// boundary can be hit to the nanosecond without sleeping.
type StoppedClock struct{ ns atomic.Int64 }

// NewStoppedClock returns a clock stopped at at.
func NewStoppedClock(at time.Time) *StoppedClock {
	c := &StoppedClock{}
	c.Set(at)
	return c
}

// Now returns the time the clock was set to.
func (c *StoppedClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Set moves the clock to at, forwards or back.
func (c *StoppedClock) Set(at time.Time) { c.ns.Store(at.UnixNano()) }

// WaitReady waits until r is ready, at most 10 seconds.
func WaitReady(t testing.TB, r ports.Readiness) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("keys not loaded after 10s: %v", r.Ready(context.Background()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Reason returns the refusal reason of err, "ok" for nil, or fails the
// test if err is not a *domain.TokenError wrapping domain.ErrInvalidToken.
func Reason(t testing.TB, err error) domain.Reason {
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

// Lifetime sets c's iat and exp for a token living ttl from now (an
// expired one, for negative ttl, issued twice as long ago) and returns c.
func Lifetime(c map[string]any, ttl time.Duration) map[string]any {
	now := time.Now()
	c["iat"] = now.Add(min(0, 2*ttl)).Unix()
	c["exp"] = now.Add(ttl).Unix()
	return c
}

// B64 is the unpadded base64url encoding of s.
func B64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// MustJSON is v as JSON.
func MustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// HMACToken signs header and payload, given as JSON, with HMAC-SHA256
// and secret.
func HMACToken(t testing.TB, secret []byte, header, payload string) string {
	t.Helper()
	input := B64(header) + "." + B64(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// PEMPublic is k's public key as a PEM "PUBLIC KEY" block.
func PEMPublic(t testing.TB, k *Key) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// WriteFile writes b to a new file in a temporary directory and returns
// its path.
func WriteFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Env returns settings read from vars, keyed by variable name
// (ISSUER_BASE_URL): a setting asked for by its flag name
// (issuer-base-url) is found under the upper-case, underscored name, and
// errors name the variable, as cmd/api's do. Values are trimmed.
func Env(vars map[string]string) jwtverify.Env {
	return func(name string) (string, string, error) {
		v := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		return strings.TrimSpace(vars[v]), v, nil
	}
}
