package devissuer_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
)

// proofFor is a proof by key for POST /oauth/token of e, with nonce.
func (e *env) proofFor(key *dpop.Signer, nonce string) http.Header {
	e.t.Helper()
	p, err := key.Proof("POST", e.issuer+"oauth/token", "", nonce, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return http.Header{"Dpop": {p}}
}

func newKey(t *testing.T) *dpop.Signer {
	t.Helper()
	k, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jktOf returns an access token's cnf.jkt, "" if it has none.
func jktOf(t *testing.T, tok string) string {
	t.Helper()
	cnf, _ := claims(t, tok)["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// The code flow with a DPoP proof (as auth0-spa-js with useDpop sends it):
// the access token is bound to the proof's key (token_type DPoP), the API's
// adapter reads the binding, and the public client's refresh token only
// works with a proof by the same key.
func TestDPoPCodeFlowAndBoundRefreshTokens(t *testing.T) {
	e := newEnv(t)
	key, other := newKey(t), newKey(t)
	verifier, challenge := pkce("dpop")
	back := e.login(authParams(challenge), url.Values{"user": {"alice"}})
	status, body, _ := e.tokenWith(codeExchange(back.Query().Get("code"), verifier), false, e.proofFor(key, ""))
	if status != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("code exchange with a proof: got %d %v, want 200 token_type DPoP", status, body)
	}
	at := body["access_token"].(string)
	if got := jktOf(t, at); got != key.JKT() {
		t.Fatalf("cnf.jkt: got %q, want the proof key's %q", got, key.JKT())
	}
	p, err := e.api().Verify(context.Background(), at)
	if err != nil || p.JKT != key.JKT() {
		t.Fatalf("API's adapter: got JKT %q, %v", p.JKT, err)
	}
	// /userinfo takes bearer tokens only.
	if resp := send(t, "GET", e.srv.URL+"/userinfo", http.Header{"Authorization": {"Bearer " + at}}, ""); resp.StatusCode != 401 {
		t.Errorf("/userinfo with a DPoP-bound token as Bearer: got %d, want 401", resp.StatusCode)
	}

	rt := body["refresh_token"].(string)
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {devissuer.DefaultSPAClient}, "refresh_token": {rt}}
	for name, h := range map[string]http.Header{"without a proof": nil, "with another key's proof": e.proofFor(other, "")} {
		status, body, _ := e.tokenWith(refresh, true, h)
		if status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("refresh %s: got %d %v, want 400 invalid_grant", name, status, body)
		}
	}
	// Those refusals did not use the token up: its holder (with the key) refreshes.
	status, body, _ = e.tokenWith(refresh, true, e.proofFor(key, ""))
	if status != 200 || body["token_type"] != "DPoP" || jktOf(t, body["access_token"].(string)) != key.JKT() {
		t.Fatalf("refresh with the key: got %d %v", status, body)
	}
	// The rotated refresh token is bound too.
	refresh.Set("refresh_token", body["refresh_token"].(string))
	if status, body, _ := e.tokenWith(refresh, false, nil); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("rotated refresh token without a proof: got %d %v", status, body)
	}
}

// dpop_jkt (RFC 9449 §10) binds the code itself: only a proof by that key
// redeems it.
func TestDPoPBoundAuthorizationCode(t *testing.T) {
	e := newEnv(t)
	key, other := newKey(t), newKey(t)
	for i, tc := range []struct {
		name   string
		header http.Header
		want   string
	}{
		{"no proof", nil, "invalid_grant"},
		{"another key", e.proofFor(other, ""), "invalid_grant"},
		{"the key", e.proofFor(key, ""), ""},
	} {
		verifier, challenge := pkce("jkt")
		q := authParams(challenge)
		q.Set("dpop_jkt", key.JKT())
		var back *url.URL
		if i == 0 {
			back = e.login(q, url.Values{"user": {"alice"}})
		} else { // logged in: straight back with a code
			back = e.redirect(e.authorize(q))
		}
		status, body, _ := e.tokenWith(codeExchange(back.Query().Get("code"), verifier), false, tc.header)
		switch {
		case tc.want == "" && (status != 200 || jktOf(t, body["access_token"].(string)) != key.JKT()):
			t.Errorf("%s: got %d %v, want a token bound to the key", tc.name, status, body)
		case tc.want != "" && (status != 400 || body["error"] != tc.want):
			t.Errorf("%s: got %d %v, want 400 %s", tc.name, status, body, tc.want)
		}
	}
	_, challenge := pkce("bad")
	q := authParams(challenge)
	q.Set("dpop_jkt", "not-a-thumbprint")
	back := e.redirect(e.authorize(q))
	if back.Query().Get("error") != "invalid_request" || !strings.Contains(back.Query().Get("error_description"), "dpop_jkt") {
		t.Errorf("malformed dpop_jkt: got %s", back)
	}
}

// A machine client's proof binds its token; the proof itself is checked
// like any other: refused answers say invalid_dpop_proof.
func TestDPoPClientCredentialsAndBadProofs(t *testing.T) {
	e := newEnv(t)
	key := newKey(t)
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine},
		"client_secret": {devissuer.DefaultMachineToken}, "audience": {devissuer.DefaultAudience}}
	proof := e.proofFor(key, "")
	status, body, _ := e.tokenWith(good, false, proof)
	if status != 200 || body["token_type"] != "DPoP" || jktOf(t, body["access_token"].(string)) != key.JKT() {
		t.Fatalf("client_credentials with a proof: got %d %v", status, body)
	}
	if status, body := e.token(good, false); status != 200 || body["token_type"] != "Bearer" || jktOf(t, body["access_token"].(string)) != "" {
		t.Errorf("without a proof: got %d %v, want a bearer token", status, body)
	}
	p1, p2 := e.proofFor(key, ""), e.proofFor(key, "")
	wrongURL, err := key.Proof("POST", "http://localhost:8080/api/private", "", "", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	wrongMethod, err := key.Proof("GET", e.issuer+"oauth/token", "", "", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	old, err := key.Proof("POST", e.issuer+"oauth/token", "", "", e.clock.Now().Add(-10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Header{
		"replayed proof":           proof,
		"two proofs":               {"Dpop": {p1.Get("Dpop"), p2.Get("Dpop")}},
		"proof for the API":        {"Dpop": {wrongURL}},
		"proof for another method": {"Dpop": {wrongMethod}},
		"proof ten minutes old":    {"Dpop": {old}},
		"garbage":                  {"Dpop": {"garbage"}},
	} {
		status, body, _ := e.tokenWith(good, false, h)
		if status != 400 || body["error"] != "invalid_dpop_proof" {
			t.Errorf("%s: got %d %v, want 400 invalid_dpop_proof", name, status, body)
		}
	}
}

// Discovery says which proof algorithms the token endpoint takes, and the
// SPA may read DPoP-Nonce from another origin.
func TestDPoPDiscoveryAndCORS(t *testing.T) {
	e := newEnv(t)
	resp := send(t, "GET", e.srv.URL+"/.well-known/openid-configuration", nil, "")
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc["issuer"] == nil {
		t.Fatalf("discovery: got %v, %v", doc, err)
	}
	algs, _ := doc["dpop_signing_alg_values_supported"].([]any)
	if len(algs) == 0 || !slices.Contains(algs, any("ES256")) {
		t.Errorf("dpop_signing_alg_values_supported: got %v", doc["dpop_signing_alg_values_supported"])
	}
	resp = send(t, "POST", e.srv.URL+"/oauth/token", http.Header{"Origin": {spa}, "Content-Type": {"application/x-www-form-urlencoded"}}, "grant_type=x")
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Errorf("Expose-Headers: got %q, want DPoP-Nonce", resp.Header.Get("Access-Control-Expose-Headers"))
	}
}

// The issuer's metadata is at both well-known locations, the OpenID one
// and RFC 8414's, alike, naming the issuer itself (as RFC 8414 §3.3
// requires a client to check).
func TestDiscoveryAtBothLocations(t *testing.T) {
	e := newEnv(t)
	var docs []map[string]any
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp := send(t, "GET", e.srv.URL+path, nil, "")
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: got %d, %v", path, resp.StatusCode, err)
		}
		if doc["issuer"] != e.srv.URL+"/" || doc["token_endpoint"] != e.srv.URL+"/oauth/token" {
			t.Errorf("%s: issuer %v, token_endpoint %v, want %s/ and %s/oauth/token", path, doc["issuer"], doc["token_endpoint"], e.srv.URL, e.srv.URL)
		}
		docs = append(docs, doc)
	}
	if !reflect.DeepEqual(docs[0], docs[1]) {
		t.Errorf("the two documents differ:\n%v\n%v", docs[0], docs[1])
	}
}

// With "dpop_nonce": token-endpoint nonces (RFC 9449 §8): a proof without
// the nonce gets 400 use_dpop_nonce and the nonce; the retry with it works.
func TestDPoPTokenEndpointNonces(t *testing.T) {
	cfg := dpop.DefaultConfig()
	cfg.NonceSecret = []byte("0123456789abcdef0123456789abcdef")
	e := newEnvWith(t, cfg)
	key := newKey(t)
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine},
		"client_secret": {devissuer.DefaultMachineToken}, "audience": {devissuer.DefaultAudience}}
	status, body, h := e.tokenWith(good, false, e.proofFor(key, ""))
	nonce := h.Get("DPoP-Nonce")
	if status != 400 || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("no nonce: got %d %v, DPoP-Nonce %q; want 400 use_dpop_nonce with a nonce", status, body, nonce)
	}
	status, body, h = e.tokenWith(good, false, e.proofFor(key, nonce))
	if status != 200 || body["token_type"] != "DPoP" || h.Get("DPoP-Nonce") != nonce {
		t.Fatalf("with the nonce: got %d %v, DPoP-Nonce %q", status, body, h.Get("DPoP-Nonce"))
	}
}

// An issuer started without DPoP refuses proofs rather than issue bearer
// tokens to a client that asked for bound ones.
func TestDPoPOff(t *testing.T) {
	dir := t.TempDir()
	cfg, _, err := devissuer.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := devissuer.OpenKeys(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := devissuer.NewServer("http://localhost:1/", cfg, keys, nil, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	key := newKey(t)
	p, err := key.Proof("POST", "http://localhost:1/oauth/token", "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp := send(t, "POST", srv.URL+"/oauth/token", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Dpop": {p}},
		url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine}, "client_secret": {devissuer.DefaultMachineToken}}.Encode())
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("answer: %v", err)
	}
	if resp.StatusCode != 400 || body["error"] != "invalid_dpop_proof" {
		t.Errorf("got %d %v, want 400 invalid_dpop_proof", resp.StatusCode, body)
	}
	resp = send(t, "GET", srv.URL+"/.well-known/openid-configuration", nil, "")
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc["issuer"] == nil {
		t.Fatalf("discovery: got %v, %v", doc, err)
	}
	if _, ok := doc["dpop_signing_alg_values_supported"]; ok {
		t.Error("discovery lists DPoP algorithms without DPoP")
	}
}
