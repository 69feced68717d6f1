package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// The DPoP tests' tokens, known to the fake verifier.
const (
	tokBound       = "bound-token.for-the-client-key"    // cnf.jkt: the client's key; scope read:messages
	tokBoundNoRead = "bound-token.without-read-messages" // cnf.jkt: the client's key; no scopes
	tokBoundOther  = "bound-token.for-another-key"       // cnf.jkt: another key
	tokPlain       = "bearer-token.not-bound"            // no cnf
	privateURL     = "http://example.com/api/private"    // what httptest.NewRequest addresses
	scopedURL      = "http://example.com/api/private-scoped"
	allAlgs        = "ES256 ES384 PS256 RS256 EdDSA Ed25519" // dpop.DefaultAlgorithms
)

// dpopFixture is the full router in one DPoP mode, with a client key.
type dpopFixture struct {
	*fixture
	key    *dpop.Signer
	priv   *ecdsa.PrivateKey // key's private key, for hand-made proofs
	clock  *testClock
	replay *switchableReplay
}

type testClock struct{ t time.Time }

func (c *testClock) Now() time.Time { return c.t }

// switchableReplay is the real in-memory replay cache whose store can be
// made to fail, as an unreachable Redis does.
type switchableReplay struct {
	ports.ReplayCache
	down error
}

func (r *switchableReplay) FirstSeen(ctx context.Context, key ports.ReplayKey, ttl time.Duration) (bool, error) {
	if r.down != nil {
		return false, r.down
	}
	return r.ReplayCache.FirstSeen(ctx, key, ttl)
}

func (r *switchableReplay) Ready(ctx context.Context) error {
	if r.down != nil {
		return r.down
	}
	return r.ReplayCache.Ready(ctx)
}

func newDPoPFixture(t *testing.T, mode app.DPoPMode, edit func(*dpop.Config), htu func(*http.Request) string) *dpopFixture {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := dpop.NewSigner(priv, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := dpop.GenerateSigner("ES256")
	clock := &testClock{time.Now()}
	v := fake.New()
	exp := time.Now().Add(time.Hour)
	v.Accept(tokBound, domain.Principal{Subject: "auth0|alice", Scopes: []string{"read:messages"}, ExpiresAt: exp, JKT: key.JKT()})
	v.Accept(tokBoundNoRead, domain.Principal{Subject: "auth0|bob", ExpiresAt: exp, JKT: key.JKT()})
	v.Accept(tokBoundOther, domain.Principal{Subject: "auth0|carol", ExpiresAt: exp, JKT: other.JKT()})
	v.Accept(tokPlain, domain.Principal{Subject: "auth0|dave", Scopes: []string{"read:messages"}, ExpiresAt: exp})
	v.Refuse(tokExpired, domain.InvalidToken(domain.ReasonExpired, errors.New("token is expired")))

	// The real verifier and in-memory cache, on the test clock; the cache's
	// store can be made to fail, as an unreachable Redis does.
	sw := &switchableReplay{ReplayCache: memory.NewReplayCache(1<<16, ports.ReplayShares{}, clock.Now)}
	cfg := dpop.DefaultConfig()
	cfg.Now = clock.Now
	if edit != nil {
		edit(&cfg)
	}
	proofs, err := dpop.New(cfg, sw)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	metrics, err := httpapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	store := fake.NewMessages()
	h := httpapi.NewRouter(httpapi.Config{AllowedOrigins: []string{spa}, HTU: htu}, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, mode, nil),
		Health:   app.NewHealth(v, ports.Stores{Database: store, Messages: store}, sw),
		Messages: app.NewMessages(store, fixtureQuota),
	}, slog.New(slog.NewJSONHandler(logs, nil)), metrics)
	return &dpopFixture{fixture: &fixture{handler: h, fake: v, store: store, logs: logs, reg: reg},
		key: key, priv: priv, clock: clock, replay: sw}
}

// proof is a good proof by the client key for GET url with token.
func (f *dpopFixture) proof(t *testing.T, method, url, token string) string {
	t.Helper()
	p, err := f.key.Proof(method, url, token, "", f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// claims are a good proof's claims for GET privateURL with token.
func (f *dpopFixture) claims(token string) map[string]any {
	var jti [12]byte
	rand.Read(jti[:])
	return map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]), "htm": "GET", "htu": privateURL,
		"iat": f.clock.Now().Unix(), "ath": dpop.AccessTokenHash(token),
	}
}

// signed is a proof with any header and claims, signed by the client key
// with the golang-jwt method alg names (or, for HS256, with secret bytes).
func (f *dpopFixture) signed(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	alg, _ := header["alg"].(string)
	var key any = f.priv
	if strings.HasPrefix(alg, "HS") {
		key = []byte("a shared secret of thirty-two bytes!")
	}
	if alg == "none" {
		return input + ".c2lnbmF0dXJl" // any bytes: the alg is refused before the signature is read
	}
	sig, err := jwt.GetSigningMethod(alg).Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (f *dpopFixture) header() map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": f.key.JWK()}
}

func dpopAuth(token string, proofs ...string) http.Header {
	h := http.Header{"Authorization": {"DPoP " + token}}
	for _, p := range proofs {
		h.Add("DPoP", p)
	}
	return h
}

// challenge builds the DPoP challenge the router should send.
func dpopChallenge(code, desc string) string {
	if code == "" {
		return `DPoP algs="` + allAlgs + `"`
	}
	return `DPoP error="` + code + `", error_description="` + desc + `", algs="` + allAlgs + `"`
}

const bearerOffer = `Bearer realm="api"`

// outcome returns auth_outcomes_total{outcome=name}.
func outcome(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "auth_outcomes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == name {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no auth_outcomes_total{outcome=%q}", name)
	return 0
}

type dpopCase struct {
	name       string
	mode       app.DPoPMode
	method     string
	target     string
	header     func(t *testing.T, f *dpopFixture) http.Header
	status     int
	challenges []string // every WWW-Authenticate value, in order
	code       string   // the body's error; "" for a success
	reason     string   // auth_outcomes_total's outcome; "" for ok
}

// TestDPoPAnswers sends each rule's hostile (and good) request through the
// full router and checks status, every challenge, the body's error and the
// outcome counted.
func TestDPoPAnswers(t *testing.T) {
	const (
		allowed  = app.DPoPAllowed
		required = app.DPoPRequired
		disabled = app.DPoPDisabled
	)
	good := func(token string) func(t *testing.T, f *dpopFixture) http.Header {
		return func(t *testing.T, f *dpopFixture) http.Header {
			return dpopAuth(token, f.proof(t, "GET", privateURL, token))
		}
	}
	withClaims := func(edit func(c map[string]any)) func(t *testing.T, f *dpopFixture) http.Header {
		return func(t *testing.T, f *dpopFixture) http.Header {
			c := f.claims(tokBound)
			edit(c)
			p, err := f.key.Sign(c)
			if err != nil {
				t.Fatal(err)
			}
			return dpopAuth(tokBound, p)
		}
	}
	withHeader := func(edit func(h map[string]any)) func(t *testing.T, f *dpopFixture) http.Header {
		return func(t *testing.T, f *dpopFixture) http.Header {
			h := f.header()
			edit(h)
			return dpopAuth(tokBound, f.signed(t, h, f.claims(tokBound)))
		}
	}
	fixed := func(h http.Header) func(*testing.T, *dpopFixture) http.Header {
		return func(*testing.T, *dpopFixture) http.Header { return h }
	}
	proofErr := func(r domain.ProofReason, param string) (string, string) {
		d := r.Description()
		if param != "" {
			d += ": " + param
		}
		return r.Code(), d
	}
	invalid := func(r domain.ProofReason, param string) []string {
		code, desc := proofErr(r, param)
		return []string{dpopChallenge(code, desc), bearerOffer}
	}

	cases := []dpopCase{
		// Accepted.
		{"DPoP-bound token with its proof", allowed, "GET", "/api/private", good(tokBound), 200, nil, "", ""},
		{"the same, DPoP required", required, "GET", "/api/private", good(tokBound), 200, nil, "", ""},
		{"scheme in lower case", allowed, "GET", "/api/private", func(t *testing.T, f *dpopFixture) http.Header {
			return http.Header{"Authorization": {"dpop   " + tokBound}, "Dpop": {f.proof(t, "GET", privateURL, tokBound)}}
		}, 200, nil, "", ""},
		{"a query string is not part of htu", allowed, "GET", "/api/private?x=1", good(tokBound), 200, nil, "", ""},
		{"bearer token as Bearer, allowed", allowed, "GET", "/api/private", fixed(auth("Bearer " + tokPlain)), 200, nil, "", ""},
		{"scope checked after the proof", allowed, "GET", "/api/private-scoped", func(t *testing.T, f *dpopFixture) http.Header {
			return dpopAuth(tokBound, f.proof(t, "GET", scopedURL, tokBound))
		}, 200, nil, "", ""},

		// No credentials: the schemes offered by mode.
		{"no credentials, allowed", allowed, "GET", "/api/private", fixed(nil), 401, []string{bearerOffer, dpopChallenge("", "")}, "unauthorized", "missing"},
		{"no credentials, required", required, "GET", "/api/private", fixed(nil), 401, []string{dpopChallenge("", "")}, "unauthorized", "missing"},
		{"no credentials, disabled", disabled, "GET", "/api/private", fixed(nil), 401, []string{bearerOffer}, "unauthorized", "missing"},
		{"DPoP and nothing else", allowed, "GET", "/api/private", fixed(auth("DPoP")), 401, []string{bearerOffer, dpopChallenge("", "")}, "unauthorized", "missing"},

		// Modes.
		{"Bearer, DPoP required", required, "GET", "/api/private", fixed(auth("Bearer " + tokPlain)), 401,
			[]string{dpopChallenge("", "")}, "unauthorized", "dpop_required"},
		{"DPoP scheme, DPoP disabled", disabled, "GET", "/api/private", good(tokBound), 401, []string{bearerOffer}, "unauthorized", "missing"},
		{"DPoP scheme with a malformed token, DPoP disabled", disabled, "GET", "/api/private", fixed(auth("DPoP a b")), 401, []string{bearerOffer}, "unauthorized", "missing"},
		// RFC 7800: a binding this deployment cannot check refuses the token.
		{"DPoP-bound token as Bearer, disabled", disabled, "GET", "/api/private", fixed(auth("Bearer " + tokBound)), 401,
			[]string{`Bearer realm="api", error="invalid_token", error_description="claim cnf is malformed or names a confirmation method this API cannot check"`},
			"invalid_token", "unsupported_cnf"},
		{"Bearer with a DPoP header, disabled (header ignored)", disabled, "GET", "/api/private", func(t *testing.T, f *dpopFixture) http.Header {
			return http.Header{"Authorization": {"Bearer " + tokPlain}, "Dpop": {f.proof(t, "GET", privateURL, tokPlain)}}
		}, 200, nil, "", ""},

		// No downgrade: a bound token never goes without its proof.
		{"DPoP-bound token as Bearer", allowed, "GET", "/api/private", fixed(auth("Bearer " + tokBound)), 401,
			[]string{`Bearer realm="api", error="invalid_token", error_description="` + domain.ProofBearerBound.Description() + `"`, dpopChallenge("", "")},
			"invalid_token", "dpop_bound_token_as_bearer"},
		{"DPoP-bound token as Bearer with its proof", allowed, "GET", "/api/private", func(t *testing.T, f *dpopFixture) http.Header {
			return http.Header{"Authorization": {"Bearer " + tokBound}, "Dpop": {f.proof(t, "GET", privateURL, tokBound)}}
		}, 400, []string{`Bearer realm="api", error="invalid_request", error_description="a DPoP proof came with the Bearer scheme; send a DPoP-bound token as Authorization: DPoP <token>"`},
			"invalid_request", "invalid_request"},

		// Token problems with the DPoP scheme get the DPoP challenge.
		{"expired token, DPoP scheme", allowed, "GET", "/api/private", good(tokExpired), 401,
			[]string{dpopChallenge("invalid_token", "token expired"), bearerOffer}, "invalid_token", "expired"},
		{"garbled token, DPoP scheme", allowed, "GET", "/api/private", fixed(auth("DPoP a b")), 401,
			[]string{dpopChallenge("invalid_token", "malformed token"), bearerOffer}, "invalid_token", "malformed"},
		{"garbled token, DPoP required", required, "GET", "/api/private", fixed(auth("DPoP a b")), 401,
			[]string{dpopChallenge("invalid_token", "malformed token")}, "invalid_token", "malformed"},
		{"insufficient scope, DPoP scheme", allowed, "GET", "/api/private-scoped", func(t *testing.T, f *dpopFixture) http.Header {
			return dpopAuth(tokBoundNoRead, f.proof(t, "GET", scopedURL, tokBoundNoRead))
		}, 403, []string{`DPoP error="insufficient_scope", error_description="insufficient scope: read:messages required", scope="read:messages", algs="` + allAlgs + `"`},
			"insufficient_scope", "insufficient_scope"},
		{"two Authorization headers, DPoP required", required, "GET", "/api/private", fixed(http.Header{"Authorization": {"DPoP a", "DPoP b"}}), 400,
			[]string{`DPoP error="invalid_request", error_description="more than one Authorization header", algs="` + allAlgs + `"`}, "invalid_request", "invalid_request"},

		// The token's binding.
		{"bearer token with the DPoP scheme", allowed, "GET", "/api/private", good(tokPlain), 401, invalid(domain.ProofNotBound, "cnf.jkt"), "invalid_token", "dpop_not_bound"},
		{"proof by another key than the token's", allowed, "GET", "/api/private", good(tokBoundOther), 401, invalid(domain.ProofKeyMismatch, "cnf.jkt"), "invalid_token", "dpop_key_mismatch"},

		// The proof header.
		{"no DPoP header", allowed, "GET", "/api/private", fixed(dpopAuth(tokBound)), 401, invalid(domain.ProofMissing, ""), "invalid_dpop_proof", "dpop_missing"},
		{"empty DPoP header", allowed, "GET", "/api/private", fixed(dpopAuth(tokBound, "")), 401, invalid(domain.ProofMissing, ""), "invalid_dpop_proof", "dpop_missing"},
		{"two DPoP headers", allowed, "GET", "/api/private", func(t *testing.T, f *dpopFixture) http.Header {
			return dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound), f.proof(t, "GET", privateURL, tokBound))
		}, 400, []string{dpopChallenge("invalid_request", "more than one DPoP header")}, "invalid_request", "dpop_multiple_proofs"},
		{"two proofs in one header", allowed, "GET", "/api/private", func(t *testing.T, f *dpopFixture) http.Header {
			return dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound)+", "+f.proof(t, "GET", privateURL, tokBound))
		}, 401, invalid(domain.ProofMalformed, ""), "invalid_dpop_proof", "dpop_malformed"},
		{"garbage proof", allowed, "GET", "/api/private", fixed(dpopAuth(tokBound, "not.a.proof")), 401, invalid(domain.ProofMalformed, ""), "invalid_dpop_proof", "dpop_malformed"},
		{"proof over 8 KiB", allowed, "GET", "/api/private", fixed(dpopAuth(tokBound, strings.Repeat("A", 9000))), 401, invalid(domain.ProofTooLarge, ""), "invalid_dpop_proof", "dpop_too_large"},
		{"typ JWT", allowed, "GET", "/api/private", withHeader(func(h map[string]any) { h["typ"] = "JWT" }), 401, invalid(domain.ProofType, "typ"), "invalid_dpop_proof", "dpop_type"},
		{"alg none", allowed, "GET", "/api/private", withHeader(func(h map[string]any) { h["alg"] = "none" }), 401, invalid(domain.ProofAlgorithm, "alg"), "invalid_dpop_proof", "dpop_algorithm"},
		{"alg HS256", allowed, "GET", "/api/private", withHeader(func(h map[string]any) { h["alg"] = "HS256" }), 401, invalid(domain.ProofAlgorithm, "alg"), "invalid_dpop_proof", "dpop_algorithm"},
		{"crit header", allowed, "GET", "/api/private", withHeader(func(h map[string]any) { h["crit"] = []string{"exp"} }), 401, invalid(domain.ProofCritical, "crit"), "invalid_dpop_proof", "dpop_critical_header"},
		{"no jwk", allowed, "GET", "/api/private", withHeader(func(h map[string]any) { delete(h, "jwk") }), 401, invalid(domain.ProofKey, "jwk"), "invalid_dpop_proof", "dpop_bad_key"},
		{"jwk with the private key", allowed, "GET", "/api/private", func(t *testing.T, f *dpopFixture) http.Header {
			h := f.header()
			var jwk map[string]any
			json.Unmarshal(f.key.JWK(), &jwk)
			jwk["d"] = base64.RawURLEncoding.EncodeToString(f.priv.D.FillBytes(make([]byte, 32)))
			h["jwk"] = jwk
			return dpopAuth(tokBound, f.signed(t, h, f.claims(tokBound)))
		}, 401, invalid(domain.ProofPrivateKey, "jwk"), "invalid_dpop_proof", "dpop_private_key"},
		{"signed by another key than its jwk (the token's)", allowed, "GET", "/api/private", func(t *testing.T, f *dpopFixture) http.Header {
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			h, _ := json.Marshal(f.header())
			c, _ := json.Marshal(f.claims(tokBound))
			input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
			sig, err := jwt.SigningMethodES256.Sign(input, other)
			if err != nil {
				t.Fatal(err)
			}
			return dpopAuth(tokBound, input+"."+base64.RawURLEncoding.EncodeToString(sig))
		}, 401, invalid(domain.ProofSignature, ""), "invalid_dpop_proof", "dpop_bad_signature"},
		{"another key's jwk, signed by it, with the token", allowed, "GET", "/api/private", func(t *testing.T, f *dpopFixture) http.Header {
			other, _ := dpop.GenerateSigner("ES256")
			p, err := other.Proof("GET", privateURL, tokBound, "", f.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			return dpopAuth(tokBound, p)
		}, 401, invalid(domain.ProofKeyMismatch, "cnf.jkt"), "invalid_token", "dpop_key_mismatch"},

		// The proof's claims against the request.
		{"proof for another method", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { c["htm"] = "POST" }), 401, invalid(domain.ProofMethod, "htm"), "invalid_dpop_proof", "dpop_wrong_method"},
		{"proof for another URL", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { c["htu"] = "http://example.com/api/me" }), 401, invalid(domain.ProofURL, "htu"), "invalid_dpop_proof", "dpop_wrong_url"},
		{"proof for another host", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { c["htu"] = "http://evil.example/api/private" }), 401, invalid(domain.ProofURL, "htu"), "invalid_dpop_proof", "dpop_wrong_url"},
		{"proof for https", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { c["htu"] = "https://example.com/api/private" }), 401, invalid(domain.ProofURL, "htu"), "invalid_dpop_proof", "dpop_wrong_url"},
		{"proof for another token", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { c["ath"] = dpop.AccessTokenHash(tokPlain) }), 401, invalid(domain.ProofAccessToken, "ath"), "invalid_dpop_proof", "dpop_wrong_ath"},
		{"proof without ath", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { delete(c, "ath") }), 401, invalid(domain.ProofMissingClaim, "ath"), "invalid_dpop_proof", "dpop_missing_claim"},
		{"proof without jti", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { delete(c, "jti") }), 401, invalid(domain.ProofMissingClaim, "jti"), "invalid_dpop_proof", "dpop_missing_claim"},
		{"iat a string", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { c["iat"] = fmt.Sprint(c["iat"]) }), 401, invalid(domain.ProofClaimType, "iat"), "invalid_dpop_proof", "dpop_bad_claim"},
		{"proof 301 s old", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { c["iat"] = c["iat"].(int64) - 301 }), 401, invalid(domain.ProofTooOld, "iat"), "invalid_dpop_proof", "dpop_too_old"},
		{"proof 31 s ahead", allowed, "GET", "/api/private", withClaims(func(c map[string]any) { c["iat"] = c["iat"].(int64) + 31 }), 401, invalid(domain.ProofFuture, "iat"), "invalid_dpop_proof", "dpop_issued_in_future"},
		{"DPoP scheme, bound token, proof by the right key for the wrong request, required", required, "POST", "/api/messages",
			func(t *testing.T, f *dpopFixture) http.Header {
				return dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound))
			}, 401,
			[]string{dpopChallenge(proofErr(domain.ProofMethod, "htm"))}, "invalid_dpop_proof", "dpop_wrong_method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newDPoPFixture(t, tc.mode, nil, nil)
			runDPoPCase(t, f, tc)
		})
	}
}

func runDPoPCase(t *testing.T, f *dpopFixture, tc dpopCase) *httptest.ResponseRecorder {
	t.Helper()
	rec := f.do(tc.method, tc.target, tc.header(t, f))
	if rec.Code != tc.status {
		t.Fatalf("status: got %d, want %d (%s)", rec.Code, tc.status, rec.Body)
	}
	got := challengesOf(t, rec.Header())
	if strings.Join(got, "\n") != strings.Join(tc.challenges, "\n") {
		t.Errorf("WWW-Authenticate:\n got %q\nwant %q", got, tc.challenges)
	}
	if tc.code != "" {
		if body := decodeError(t, rec); body.Error != tc.code {
			t.Errorf("error: got %q (%s), want %q", body.Error, body.Description, tc.code)
		}
	}
	want := tc.reason
	if want == "" {
		want = "ok"
	}
	if n := outcome(t, f.reg, want); n != 1 {
		t.Errorf("auth_outcomes_total{outcome=%q}: got %v, want 1", want, n)
	}
	return rec
}

// A proof is accepted once: the same request again is a replay.
func TestDPoPReplay(t *testing.T) {
	f := newDPoPFixture(t, app.DPoPAllowed, nil, nil)
	h := dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound))
	if rec := f.do("GET", "/api/private", h); rec.Code != 200 {
		t.Fatalf("first use: got %d %s", rec.Code, rec.Body)
	}
	rec := f.do("GET", "/api/private", h)
	want := []string{dpopChallenge("invalid_dpop_proof", "DPoP proof already used: jti"), bearerOffer}
	if got := challengesOf(t, rec.Header()); rec.Code != 401 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("replay: got %d %q, want 401 %q", rec.Code, got, want)
	}
	if n := outcome(t, f.reg, "dpop_replayed"); n != 1 {
		t.Errorf("dpop_replayed counted %v times, want 1", n)
	}
	// The token cache serves the token, the proof is checked every time:
	// a fresh proof passes, a replayed one does not.
	for range 3 {
		if rec := f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound))); rec.Code != 200 {
			t.Fatalf("fresh proof: got %d", rec.Code)
		}
		if rec := f.do("GET", "/api/private", h); rec.Code != 401 {
			t.Fatalf("replayed proof: got %d", rec.Code)
		}
	}
}

// The replay store down: 503 with Retry-After, never a request let through
// unchecked; /readyz says so; back up, requests pass again.
func TestDPoPReplayStoreDown(t *testing.T) {
	f := newDPoPFixture(t, app.DPoPAllowed, nil, nil)
	f.replay.down = fmt.Errorf("redis: %w: dial tcp 127.0.0.1:6390: connection refused", domain.ErrUnavailable)
	rec := f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound)))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("got %d Retry-After %q, want 503 with Retry-After 5", rec.Code, rec.Header().Get("Retry-After"))
	}
	if body := decodeError(t, rec); body.Error != "temporarily_unavailable" || body.Description != "DPoP replay check unavailable; retry shortly" {
		t.Errorf("body: got %+v", body)
	}
	if n := outcome(t, f.reg, "dpop_unavailable"); n != 1 {
		t.Errorf("dpop_unavailable counted %v times, want 1", n)
	}
	rec = f.do("GET", "/readyz", nil)
	if body := decodeError(t, rec); rec.Code != 503 || body.Description != "not available: the DPoP replay store; retry shortly" {
		t.Errorf("/readyz: got %d %+v", rec.Code, body)
	}
	// Bearer tokens do not need the store.
	if rec := f.do("GET", "/api/private", auth("Bearer "+tokPlain)); rec.Code != 200 {
		t.Errorf("bearer token while the store is down: got %d", rec.Code)
	}
	f.replay.down = nil
	if rec := f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound))); rec.Code != 200 {
		t.Errorf("store back: got %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("GET", "/readyz", nil); rec.Code != 200 {
		t.Errorf("/readyz, store back: got %d", rec.Code)
	}
}

// Nonces on: a proof without the current nonce gets 401 use_dpop_nonce and
// the nonce in DPoP-Nonce; with it, 200 and the nonce again; as the window
// turns, a successful answer carries the new nonce, and the previous one
// is still accepted for one window.
func TestDPoPNonces(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	f := newDPoPFixture(t, app.DPoPAllowed, func(c *dpop.Config) {
		c.NonceSecret = secret
		c.NonceWindow = time.Minute
	}, nil)
	withNonce := func(nonce string) http.Header {
		p, err := f.key.Proof("GET", privateURL, tokBound, nonce, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return dpopAuth(tokBound, p)
	}
	rec := f.do("GET", "/api/private", withNonce(""))
	nonce := rec.Header().Get("DPoP-Nonce")
	want := []string{dpopChallenge("use_dpop_nonce", "DPoP nonce required: nonce"), bearerOffer}
	if rec.Code != 401 || nonce == "" || strings.Join(challengesOf(t, rec.Header()), "\n") != strings.Join(want, "\n") {
		t.Fatalf("no nonce: got %d, DPoP-Nonce %q, %q; want 401 use_dpop_nonce with a nonce", rec.Code, nonce, challengesOf(t, rec.Header()))
	}
	if body := decodeError(t, rec); body.Error != "use_dpop_nonce" {
		t.Errorf("body error %q, want use_dpop_nonce", body.Error)
	}
	rec = f.do("GET", "/api/private", withNonce(nonce))
	if rec.Code != 200 || rec.Header().Get("DPoP-Nonce") != nonce {
		t.Fatalf("with the nonce: got %d, DPoP-Nonce %q; want 200 and the same nonce", rec.Code, rec.Header().Get("DPoP-Nonce"))
	}
	if rec := f.do("GET", "/api/private", withNonce("made-up-nonce-of-32-characters-x")); rec.Code != 401 || rec.Header().Get("DPoP-Nonce") != nonce {
		t.Errorf("made-up nonce: got %d, DPoP-Nonce %q", rec.Code, rec.Header().Get("DPoP-Nonce"))
	}

	f.clock.t = f.clock.t.Add(time.Minute) // the next window
	rec = f.do("GET", "/api/private", withNonce(nonce))
	next := rec.Header().Get("DPoP-Nonce")
	if rec.Code != 200 || next == "" || next == nonce {
		t.Fatalf("previous window's nonce: got %d, DPoP-Nonce %q; want 200 and a new nonce", rec.Code, next)
	}
	f.clock.t = f.clock.t.Add(time.Minute) // two windows on: stale
	rec = f.do("GET", "/api/private", withNonce(nonce))
	if rec.Code != 401 || rec.Header().Get("DPoP-Nonce") == "" || !strings.Contains(challengeOf(t, rec.Header()), `error="use_dpop_nonce"`) {
		t.Fatalf("stale nonce: got %d %q", rec.Code, challengeOf(t, rec.Header()))
	}
	if n := outcome(t, f.reg, "dpop_nonce_stale"); n != 1 {
		t.Errorf("dpop_nonce_stale counted %v times, want 1", n)
	}
	// Bearer answers carry no nonce.
	if rec := f.do("GET", "/api/private", auth("Bearer "+tokPlain)); rec.Code != 200 || rec.Header().Get("DPoP-Nonce") != "" {
		t.Errorf("Bearer: got %d, DPoP-Nonce %q", rec.Code, rec.Header().Get("DPoP-Nonce"))
	}
}

// Behind a proxy, htu is the URL Config.HTU rebuilds (PUBLIC_URL): a proof
// for the public URL passes, one for the URL the API itself saw does not.
func TestDPoPHTUPolicy(t *testing.T) {
	public := func(r *http.Request) string { return "https://api.example.org" + r.URL.EscapedPath() }
	f := newDPoPFixture(t, app.DPoPAllowed, nil, public)
	if rec := f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", "https://api.example.org/api/private", tokBound))); rec.Code != 200 {
		t.Errorf("proof for the public URL: got %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound))); rec.Code != 401 {
		t.Errorf("proof for the internal URL: got %d, want 401", rec.Code)
	}
}

// CORS: the SPA may send the DPoP header and read DPoP-Nonce and
// WWW-Authenticate.
func TestDPoPCORS(t *testing.T) {
	f := newDPoPFixture(t, app.DPoPAllowed, nil, nil)
	rec := f.do("OPTIONS", "/api/private", http.Header{"Origin": {spa}, "Access-Control-Request-Method": {"GET"},
		"Access-Control-Request-Headers": {"authorization,dpop"}})
	if rec.Code != 204 || !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "DPoP") {
		t.Errorf("preflight: got %d, Allow-Headers %q; want DPoP allowed", rec.Code, rec.Header().Get("Access-Control-Allow-Headers"))
	}
	h := dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound))
	h.Set("Origin", spa)
	rec = f.do("GET", "/api/private", h)
	expose := rec.Header().Get("Access-Control-Expose-Headers")
	if rec.Code != 200 || !strings.Contains(expose, "DPoP-Nonce") || !strings.Contains(expose, "WWW-Authenticate") {
		t.Errorf("answer: got %d, Expose-Headers %q; want DPoP-Nonce and WWW-Authenticate", rec.Code, expose)
	}
}

// Logs carry the reason, never a proof or a token.
func TestDPoPLogs(t *testing.T) {
	f := newDPoPFixture(t, app.DPoPAllowed, nil, nil)
	good := f.proof(t, "GET", privateURL, tokBound)
	bad := f.proof(t, "POST", privateURL, tokBound)
	f.do("GET", "/api/private", dpopAuth(tokBound, good))
	f.do("GET", "/api/private", dpopAuth(tokBound, good))
	f.do("GET", "/api/private", dpopAuth(tokBound, bad))
	f.do("GET", "/api/private", auth("Bearer "+tokBound))
	f.replay.down = fmt.Errorf("redis: %w: i/o timeout", domain.ErrUnavailable)
	f.do("GET", "/api/private", dpopAuth(tokBound, f.proof(t, "GET", privateURL, tokBound)))
	out := f.logs.String()
	for _, secret := range []string{tokBound, good, bad, strings.Split(good, ".")[1], strings.Split(bad, ".")[2]} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds a token or proof:\n%s", out)
		}
	}
	for _, reason := range []string{`"reason":"dpop_replayed"`, `"reason":"dpop_wrong_method"`, `"reason":"dpop_bound_token_as_bearer"`, `"reason":"dpop_unavailable"`} {
		if !strings.Contains(out, reason) {
			t.Errorf("log lacks %s:\n%s", reason, out)
		}
	}
}
