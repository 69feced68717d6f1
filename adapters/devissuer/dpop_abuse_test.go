package devissuer_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/ports"
)

// countingProofs is the real proof check, counting the proofs accepted
// (their signature checked and jti recorded).
type countingProofs struct {
	ports.TokenRequestProofs
	accepts atomic.Int64
}

func (c *countingProofs) CheckTokenRequestProof(req ports.ProofRequest) (ports.TokenRequestProof, error) {
	p, err := c.TokenRequestProofs.CheckTokenRequestProof(req)
	if err != nil {
		return nil, err
	}
	return countingProof{p, &c.accepts}, nil
}

type countingProof struct {
	ports.TokenRequestProof
	n *atomic.Int64
}

func (p countingProof) Accept(ctx context.Context) error {
	p.n.Add(1)
	return p.TokenRequestProof.Accept(ctx)
}

// newCountingEnv is an issuer whose used proofs are kept as cmd/api keeps
// the development issuer's (devIssuerProofs: 65,536 proofs, 4,096 per
// key), with the proofs accepted counted.
func newCountingEnv(t *testing.T) (*env, *countingProofs) {
	var counting *countingProofs
	e := newEnvProofs(t, func(now func() time.Time) ports.TokenRequestProofs {
		cfg := dpop.DefaultConfig()
		cfg.Now = now
		v, err := dpop.New(cfg, memory.NewReplayCache(1<<16, ports.ReplayShares{PerKey: 1 << 12}, now))
		if err != nil {
			t.Fatal(err)
		}
		counting = &countingProofs{TokenRequestProofs: v}
		return counting
	})
	return e, counting
}

// post sends a token request to the issuer's handler directly and returns
// the answer.
func (e *env) post(p url.Values, proof string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", e.issuer+"oauth/token", strings.NewReader(p.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// wantOAuthError checks an answer's status, error, description ("": any)
// and WWW-Authenticate.
func wantOAuthError(t *testing.T, rec *httptest.ResponseRecorder, status int, code, desc, challenge string) {
	t.Helper()
	if err := oauthError(rec, status, code, desc, challenge); err != nil {
		t.Fatal(err)
	}
}

// oauthError is wantOAuthError's check, for use outside the test's
// goroutine.
func oauthError(rec *httptest.ResponseRecorder, status int, code, desc, challenge string) error {
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		return fmt.Errorf("answer %d %q: not a JSON error: %v", rec.Code, rec.Body, err)
	}
	if rec.Code != status || body["error"] != code || (desc != "" && body["error_description"] != desc) {
		return fmt.Errorf("got %d %q %q, want %d %q %q", rec.Code, body["error"], body["error_description"], status, code, desc)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != challenge {
		return fmt.Errorf("WWW-Authenticate: got %q, want %q", got, challenge)
	}
	return nil
}

var (
	machine = url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine},
		"client_secret": {devissuer.DefaultMachineToken}, "audience": {devissuer.DefaultAudience}}
	wrongSecret = url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine},
		"client_secret": {"a guess"}, "audience": {devissuer.DefaultAudience}}
	unknownClient = url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"x"}}
	badCode       = url.Values{"grant_type": {"authorization_code"}, "client_id": {devissuer.DefaultSPAClient},
		"code": {"not-a-code"}, "redirect_uri": {spa + "/"}, "code_verifier": {strings.Repeat("v", 43)}}
	badRefresh = url.Values{"grant_type": {"refresh_token"}, "client_id": {devissuer.DefaultSPAClient}, "refresh_token": {"not-a-token"}}
)

// 70,000 good proofs (64 keys, each jti fresh) from clients that are not
// authenticated or have no valid grant: each is refused for what it is,
// none is accepted (no signature checked, no jti recorded: the cache holds
// 65,536), and a valid client's DPoP token request then works.
func TestDPoPProofFloodFromUnauthenticatedClients(t *testing.T) {
	e, counting := newCountingEnv(t)
	keys := make([]*dpop.Signer, 64)
	for i := range keys {
		keys[i] = newKey(t)
	}
	const flood = 70_000
	proofs := make([]string, flood)
	basic := `Basic realm="devissuer"`
	var wg sync.WaitGroup
	for w := range 4 { // each worker makes and sends a quarter of the flood
		wg.Go(func() {
			for i := w; i < flood; i += 4 {
				p, err := keys[i%len(keys)].Proof("POST", e.issuer+"oauth/token", "", "", e.clock.Now())
				if err != nil {
					t.Error(err)
					return
				}
				proofs[i] = p
				rec := e.post([]url.Values{wrongSecret, unknownClient, badCode, badRefresh}[i%4], p)
				var err2 error
				switch i % 4 {
				case 0, 1:
					err2 = oauthError(rec, 401, "invalid_client", "client authentication failed", basic)
				case 2:
					err2 = oauthError(rec, 400, "invalid_grant", "invalid, expired or already used authorization code", "")
				case 3:
					err2 = oauthError(rec, 400, "invalid_grant", "unknown, expired or revoked refresh token", "")
				}
				if err2 != nil {
					t.Errorf("flood request %d: %v", i, err2)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if n := counting.accepts.Load(); n != 0 {
		t.Fatalf("%d of the flood's proofs accepted (signature checked, jti recorded), want 0", n)
	}
	// The valid client, with one of the flood's keys and a fresh proof.
	p, err := keys[0].Proof("POST", e.issuer+"oauth/token", "", "", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec := e.post(machine, p)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != 200 || err != nil || body["token_type"] != "DPoP" ||
		jktOf(t, body["access_token"].(string)) != keys[0].JKT() {
		t.Fatalf("the valid client after the flood: got %d %s, want 200 and a token bound to its key", rec.Code, rec.Body)
	}
	if n := counting.accepts.Load(); n != 1 {
		t.Fatalf("proofs accepted: %d, want 1 (the valid client's)", n)
	}
	// And the flood's proofs were never recorded: one of them, now from
	// the authenticated client, is accepted.
	rec = e.post(machine, proofs[4])
	if rec.Code != 200 {
		t.Fatalf("a flood proof from the valid client: got %d %s, want 200 (it was never recorded)", rec.Code, rec.Body)
	}
}

// Proofs signed with RSA keys over 4096 bits are refused as such, by
// anyone; a 4096-bit one (validly signed) from an anonymous caller is
// refused for the caller without its signature checked.
func TestDPoPTokenEndpointLargeRSAKeys(t *testing.T) {
	e, counting := newCountingEnv(t)
	b, err := os.ReadFile("../dpop/testdata/rsa8192.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	big := k.(*rsa.PrivateKey)
	small, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	proof := func(key *rsa.PrivateKey) string {
		jwk, err := dpop.PublicJWK(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		// By hand: dpop.NewSigner refuses keys over 4096 bits.
		return rsaProof(t, key, jwk, e.issuer+"oauth/token", e.clock.Now())
	}
	for _, p := range []url.Values{machine, wrongSecret} {
		wantOAuthError(t, e.post(p, proof(big)), 400, "invalid_dpop_proof", "DPoP proof RSA key over 4096 bits not accepted: jwk", "")
	}
	wantOAuthError(t, e.post(wrongSecret, proof(small)), 401, "invalid_client", "client authentication failed", `Basic realm="devissuer"`)
	if n := counting.accepts.Load(); n != 0 {
		t.Fatalf("proofs accepted: %d, want 0", n)
	}
	if rec := e.post(machine, proof(small)); rec.Code != 200 || counting.accepts.Load() != 1 {
		t.Fatalf("RSA-4096 proof from the authenticated client: got %d %s (accepted %d)", rec.Code, rec.Body, counting.accepts.Load())
	}
}

// A DPoP-bound refresh token with a proof that names its key but is not
// signed by it: refused, and the token is not used up.
func TestDPoPForgedProofDoesNotUseUpABoundRefreshToken(t *testing.T) {
	e := newEnv(t)
	key, forger := newKey(t), newKey(t)
	verifier, challenge := pkce("forged")
	back := e.login(authParams(challenge), url.Values{"user": {"alice"}})
	status, body, _ := e.tokenWith(codeExchange(back.Query().Get("code"), verifier), false, e.proofFor(key, ""))
	if status != 200 {
		t.Fatalf("code exchange: got %d %v", status, body)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {devissuer.DefaultSPAClient}, "refresh_token": {body["refresh_token"].(string)}}
	good := e.proofFor(key, "").Get("Dpop")
	forged := good[:strings.LastIndexByte(good, '.')] + e.proofFor(forger, "").Get("Dpop")[strings.LastIndexByte(good, '.'):]
	wantOAuthError(t, e.post(refresh, forged), 400, "invalid_dpop_proof", "DPoP proof signature verification failed", "")
	if status, body, _ := e.tokenWith(refresh, false, e.proofFor(key, "")); status != 200 || jktOf(t, body["access_token"].(string)) != key.JKT() {
		t.Fatalf("refresh by the key's holder after the forgery: got %d %v, want 200", status, body)
	}
}

// rsaProof is a proof for POST htu signed by key, whose public JWK is jwk.
func rsaProof(t *testing.T, key *rsa.PrivateKey, jwk json.RawMessage, htu string, now time.Time) string {
	t.Helper()
	h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk})
	jti := make([]byte, 16)
	rand.Read(jti)
	c, _ := json.Marshal(map[string]any{"jti": fmt.Sprintf("%x", jti), "htm": "POST", "htu": htu, "iat": now.Unix()})
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := jwt.SigningMethodRS256.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
