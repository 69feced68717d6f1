package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// rsaProof is a proof for GET privateURL with token, signed with an RSA
// key of any size (dpop.Signer refuses those over 4096 bits).
func rsaProof(t *testing.T, f *dpopFixture, key *rsa.PrivateKey, token string) string {
	t.Helper()
	jwk, err := dpop.PublicJWK(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk})
	c, _ := json.Marshal(f.claims(token))
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := jwt.SigningMethodRS256.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// rsa8192 is the RSA-8192 test key of adapters/dpop (made once with
// openssl: Go takes minutes).
func rsa8192(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("../dpop/testdata/rsa8192.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// wantAnswer checks a refusal: status, every WWW-Authenticate value, the
// body's error and description, Retry-After ("" for none) and the outcome
// counted.
func wantAnswer(t *testing.T, f *dpopFixture, rec *httptest.ResponseRecorder, status int, challenges []string, code, desc, retryAfter, reason string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status: got %d, want %d (%s)", rec.Code, status, rec.Body)
	}
	if got := challengesOf(t, rec.Header()); strings.Join(got, "\n") != strings.Join(challenges, "\n") {
		t.Errorf("WWW-Authenticate:\n got %q\nwant %q", got, challenges)
	}
	if got := rec.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After: got %q, want %q", got, retryAfter)
	}
	if body := decodeError(t, rec); body.Error != code || body.Description != desc {
		t.Errorf("body: got %q %q, want %q %q", body.Error, body.Description, code, desc)
	}
	if n := outcome(t, f.reg, reason); n < 1 {
		t.Errorf("auth_outcomes_total{outcome=%q}: got %v, want it counted", reason, n)
	}
}

// Proofs signed with RSA keys over 4096 bits are refused as such, before
// their signature is checked, whatever token comes with them: an attacker
// with any token (even a bearer one sent as DPoP) cannot make the server
// do an 8192-bit modular exponentiation. A 4096-bit proof with a token not
// bound to it is refused for the binding, also before its signature.
func TestDPoPLargeRSAKeys(t *testing.T) {
	big := rsa8192(t)
	k4096, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	tooLarge := []string{dpopChallenge("invalid_dpop_proof", "DPoP proof RSA key over 4096 bits not accepted: jwk"), bearerOffer}
	for _, tc := range []struct {
		name, token string
		key         *rsa.PrivateKey
		status      int
		challenges  []string
		code, desc  string
		outcome     string
	}{
		{"RSA-8192 proof, DPoP-bound token", tokBound, big, 401, tooLarge,
			"invalid_dpop_proof", "DPoP proof RSA key over 4096 bits not accepted: jwk", "dpop_key_too_large"},
		{"RSA-8192 proof, bearer token sent as DPoP", tokPlain, big, 401, tooLarge,
			"invalid_dpop_proof", "DPoP proof RSA key over 4096 bits not accepted: jwk", "dpop_key_too_large"},
		{"RSA-4096 proof, bearer token sent as DPoP", tokPlain, k4096, 401,
			[]string{dpopChallenge("invalid_token", "access token is not bound to a DPoP key: cnf.jkt"), bearerOffer},
			"invalid_token", "access token is not bound to a DPoP key: cnf.jkt", "dpop_not_bound"},
		{"RSA-4096 proof, token bound to another key", tokBound, k4096, 401,
			[]string{dpopChallenge("invalid_token", "access token is bound to another DPoP key: cnf.jkt"), bearerOffer},
			"invalid_token", "access token is bound to another DPoP key: cnf.jkt", "dpop_key_mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDPoPFixture(t, app.DPoPAllowed, nil, nil)
			rec := f.do("GET", "/api/private", dpopAuth(tc.token, rsaProof(t, f, tc.key, tc.token)))
			wantAnswer(t, f, rec, tc.status, tc.challenges, tc.code, tc.desc, "", tc.outcome)
		})
	}
	// The same 4096-bit key with a token bound to it is accepted.
	f := newDPoPFixture(t, app.DPoPAllowed, nil, nil)
	jwk, _ := dpop.PublicJWK(k4096.Public())
	jkt, err := dpop.Thumbprint(jwk)
	if err != nil {
		t.Fatal(err)
	}
	f.fake.Accept("bound-token.rsa-4096", domain.Principal{Subject: "auth0|erin", ExpiresAt: time.Now().Add(time.Hour), JKT: jkt})
	if rec := f.do("GET", "/api/private", dpopAuth("bound-token.rsa-4096", rsaProof(t, f, k4096, "bound-token.rsa-4096"))); rec.Code != 200 {
		t.Fatalf("RSA-4096 proof with its bound token: got %d %s", rec.Code, rec.Body)
	}
}

// One client sending proofs faster than the replay cache will remember
// for it: past its token's share its requests get 429 too_many_proofs with
// Retry-After and no challenge (its credentials are good); past its key's
// share, so do its other tokens'. Its used proofs are still refused as
// replays, and another client notices nothing.
func TestDPoPShareFlood(t *testing.T) {
	f := newDPoPFixture(t, app.DPoPAllowed, nil, nil)
	f.replay.ReplayCache = memory.NewReplayCache(1<<16, ports.ReplayShares{PerKey: 8, PerToken: 4}, f.clock.Now)
	other, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	f.fake.Accept("bound-token.another-client", domain.Principal{Subject: "auth0|frank", ExpiresAt: time.Now().Add(time.Hour), JKT: other.JKT()})
	otherGet := func() *httptest.ResponseRecorder {
		p, err := other.Proof("GET", privateURL, "bound-token.another-client", "", f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return f.do("GET", "/api/private", dpopAuth("bound-token.another-client", p))
	}

	var used http.Header
	for i := range 4 {
		h := dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound))
		if rec := f.do("GET", "/api/private", h); rec.Code != 200 {
			t.Fatalf("proof %d of the token's 4: got %d %s", i+1, rec.Code, rec.Body)
		}
		used = h
	}
	for range 3 {
		rec := f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound)))
		wantAnswer(t, f, rec, 429, nil, "too_many_proofs",
			"too many DPoP proofs with this access token within the proof window; retry with a fresh proof after Retry-After", "330",
			"dpop_too_many_for_token")
	}
	// The key's other token, up to the key's share of 8, then refused too.
	for i := range 4 {
		if rec := f.do("GET", "/api/private", dpopAuth(tokBoundNoRead, f.proof(t, "GET", privateURL, tokBoundNoRead))); rec.Code != 200 {
			t.Fatalf("the key's other token, proof %d: got %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := f.do("GET", "/api/private", dpopAuth(tokBoundNoRead, f.proof(t, "GET", privateURL, tokBoundNoRead)))
	wantAnswer(t, f, rec, 429, nil, "too_many_proofs",
		"too many DPoP proofs with this key within the proof window; retry with a fresh proof after Retry-After", "330",
		"dpop_too_many_for_key")
	// A used proof is a replay, whatever the shares.
	wantAnswer(t, f, f.do("GET", "/api/private", used), 401,
		[]string{dpopChallenge("invalid_dpop_proof", "DPoP proof already used: jti"), bearerOffer},
		"invalid_dpop_proof", "DPoP proof already used: jti", "", "dpop_replayed")
	// Another client: served, up to its own share.
	for i := range 4 {
		if rec := otherGet(); rec.Code != 200 {
			t.Fatalf("another client's request %d during the flood: got %d %s", i+1, rec.Code, rec.Body)
		}
	}
	// Once the first proofs expire (330 s), the client is served again.
	f.clock.t = f.clock.t.Add(331 * time.Second)
	if rec := f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound))); rec.Code != 200 {
		t.Fatalf("after its proofs expired: got %d %s", rec.Code, rec.Body)
	}
}

// A replay store that restarted without its proofs: a proof that could
// have been used before is refused with 503, Retry-After from the store,
// and no challenge; the request never goes through unchecked.
func TestDPoPReplayStoreRestarted(t *testing.T) {
	f := newDPoPFixture(t, app.DPoPAllowed, nil, nil)
	f.replay.down = &domain.ProofError{Reason: domain.ProofStoreRestarted, RetryAfter: 11500 * time.Millisecond,
		Cause: fmt.Errorf("redis: the server (re)started")}
	rec := f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound)))
	wantAnswer(t, f, rec, 503, nil, "temporarily_unavailable",
		"the DPoP replay store restarted and cannot vouch for proofs made before; retry with a fresh proof after Retry-After", "12",
		"dpop_replay_store_restarted")
}

// The in-memory store full of proofs that have not expired: new proofs
// get 503 and /readyz says the store is full.
func TestDPoPReplayStoreFull(t *testing.T) {
	f := newDPoPFixture(t, app.DPoPAllowed, nil, nil)
	full := memory.NewReplayCache(64, ports.ReplayShares{}, f.clock.Now)
	for i := range 64 {
		if ok, err := full.FirstSeen(context.Background(), ports.ReplayKey{JKT: fmt.Sprint("k", i), JTI: "j"}, time.Hour); !ok || err != nil {
			t.Fatalf("filling: %v %v", ok, err)
		}
	}
	f.replay.ReplayCache = full
	rec := f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound)))
	wantAnswer(t, f, rec, 503, nil, "temporarily_unavailable", "DPoP replay check unavailable; retry shortly", "5", "dpop_unavailable")
	rec = f.do("GET", "/readyz", nil)
	if body := decodeError(t, rec); rec.Code != 503 ||
		body.Description != "not available: the DPoP replay store (full: it holds the most proofs it may, none expired yet); retry shortly" {
		t.Fatalf("/readyz: got %d %+v", rec.Code, body)
	}
}
