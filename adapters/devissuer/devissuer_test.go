package devissuer_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/ports"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const spa = "http://localhost:5173"

type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// env is a running issuer with a browser-like client (cookies, no
// automatic redirects) and the auth0 adapter the API uses, trusting it.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	issuer   string
	dir      string
	clock    *clock
	browser  *http.Client
	verifier *auth0.Verifier
	handler  http.Handler // the issuer's, for calls without a connection
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, dpop.DefaultConfig())
}

// newEnvWith is newEnv whose token endpoint checks DPoP proofs as proofs
// says (on the env's clock, used proofs in memory).
func newEnvWith(t *testing.T, proofs dpop.Config) *env {
	t.Helper()
	return newEnvIn(t, t.TempDir(), proofs)
}

// newEnvIn is newEnvWith on the dev directory dir, which may hold a
// config.json already.
func newEnvIn(t *testing.T, dir string, proofs dpop.Config) *env {
	t.Helper()
	return newEnvProofsIn(t, dir, func(now func() time.Time) ports.TokenRequestProofs {
		proofs.Now = now
		pv, err := dpop.New(proofs, memory.NewReplayCache(1024, ports.ReplayShares{}, now))
		if err != nil {
			t.Fatal(err)
		}
		return pv
	})
}

// newEnvProofs is newEnv whose token endpoint checks DPoP proofs with what
// proofs returns for the env's clock.
func newEnvProofs(t *testing.T, proofs func(now func() time.Time) ports.TokenRequestProofs) *env {
	t.Helper()
	return newEnvProofsIn(t, t.TempDir(), proofs)
}

// newEnvProofsIn is newEnvProofs on the dev directory dir.
func newEnvProofsIn(t *testing.T, dir string, proofs func(now func() time.Time) ports.TokenRequestProofs) *env {
	t.Helper()
	e := &env{t: t, dir: dir, clock: &clock{}}
	pv := proofs(e.clock.Now)
	cfg, _, err := devissuer.LoadConfig(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := devissuer.OpenKeys(e.dir, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	e.issuer = e.srv.URL + "/"
	s, err := devissuer.NewServer(e.issuer, cfg, keys, pv, quiet, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	handler = s.Handler()
	e.handler = handler
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.browser = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

// api returns the API's verifier for this issuer (started on first use).
func (e *env) api() *auth0.Verifier {
	if e.verifier == nil {
		v, cleanup, err := auth0.New(context.Background(), auth0.Config{
			IssuerBaseURL: e.issuer, Audiences: []string{devissuer.DefaultAudience},
			Options: jwtverify.Options{ClockTolerance: 5 * time.Second, Now: e.clock.Now},
		}, quiet, prometheus.NewRegistry())
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(cleanup)
		for v.Ready(context.Background()) != nil {
			time.Sleep(5 * time.Millisecond)
		}
		e.verifier = v
	}
	return e.verifier
}

// pkce returns a verifier and its S256 challenge.
func pkce(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 43/len(seed)+1)[:43]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authParams are what auth0-spa-js sends to /authorize.
func authParams(challenge string) url.Values {
	return url.Values{
		"client_id": {devissuer.DefaultSPAClient}, "redirect_uri": {spa}, "response_type": {"code"},
		"response_mode": {"query"}, "scope": {"openid profile email read:messages offline_access"},
		"audience": {devissuer.DefaultAudience}, "state": {"st4te"}, "nonce": {"n0nce"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

var txnField = regexp.MustCompile(`name="txn" value="([^"]+)"`)

// authorize GETs /authorize and returns the response.
func (e *env) authorize(q url.Values) *http.Response {
	e.t.Helper()
	resp, err := e.browser.Get(e.srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// login runs /authorize and picks user on the login page, returning the
// redirect back to the SPA.
func (e *env) login(q url.Values, form url.Values) *url.URL {
	e.t.Helper()
	resp := e.authorize(q)
	body := readAll(e.t, resp)
	m := txnField.FindSubmatch([]byte(body))
	if resp.StatusCode != 200 || m == nil {
		e.t.Fatalf("login page: got %d without a txn field:\n%s", resp.StatusCode, body)
	}
	form.Set("txn", string(m[1]))
	resp, err := e.browser.PostForm(e.srv.URL+"/login", form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return e.redirect(resp)
}

func (e *env) redirect(resp *http.Response) *url.URL {
	e.t.Helper()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("got %d, want a redirect", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// token POSTs to /oauth/token as a form (or JSON when asJSON).
func (e *env) token(p url.Values, asJSON bool) (int, map[string]any) {
	e.t.Helper()
	status, body, _ := e.tokenWith(p, asJSON, nil)
	return status, body
}

// tokenWith POSTs to /oauth/token with extra headers (a DPoP proof) and
// returns the answer's headers too.
func (e *env) tokenWith(p url.Values, asJSON bool, header http.Header) (int, map[string]any, http.Header) {
	e.t.Helper()
	var body string
	req, err := http.NewRequest("POST", e.srv.URL+"/oauth/token", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if asJSON {
		m := map[string]string{}
		for k := range p {
			m[k] = p.Get(k)
		}
		b, err := json.Marshal(m)
		if err != nil {
			e.t.Fatal(err)
		}
		body = string(b)
		req.Header.Set("Content-Type", "application/json")
	} else {
		body = p.Encode()
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		e.t.Fatalf("token response is not JSON: %v", err)
	}
	return resp.StatusCode, answer, resp.Header
}

// readAll reads and closes a response body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return string(b)
}

// send makes a request with the default client, failing the test on
// transport errors.
func send(t *testing.T, method, target string, header http.Header, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func codeExchange(code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "client_id": {devissuer.DefaultSPAClient},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {spa}}
}

// str is m[k] if it is a JSON string, else "": tests compare it with a
// non-empty value, so a missing or mistyped member fails them.
func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// num is m[k] if it is a JSON number, else NaN (equal to nothing).
func num(m map[string]any, k string) float64 {
	if f, ok := m[k].(float64); ok {
		return f
	}
	return math.NaN()
}

func claims(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatalf("not a JWT: %v", err)
	}
	return c
}

func TestCodeFlowTokensAreAcceptedByTheAPI(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce("abc")
	back := e.login(authParams(challenge), url.Values{"user": {"alice"}})
	if got := back.Scheme + "://" + back.Host; got != spa || back.Query().Get("state") != "st4te" {
		t.Fatalf("redirect: got %s, want %s with state", back, spa)
	}
	status, body := e.token(codeExchange(back.Query().Get("code"), verifier), false)
	if status != 200 {
		t.Fatalf("token: got %d %v", status, body)
	}
	if str(body, "token_type") != "Bearer" || num(body, "expires_in") != 3600 || body["refresh_token"] == nil || body["id_token"] == nil {
		t.Errorf("token response: %v", body)
	}

	// The API's own adapter accepts the access token.
	p, err := e.api().Verify(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatalf("API refused the dev access token: %v", err)
	}
	if p.Subject != "dev|alice" || p.ClientID != devissuer.DefaultSPAClient {
		t.Errorf("principal: got subject %q client %q", p.Subject, p.ClientID)
	}
	if want := []string{"openid", "profile", "email", "read:messages", "offline_access"}; !slices.Equal(p.Scopes, want) {
		t.Errorf("scopes: got %q, want %q", p.Scopes, want)
	}
	// Permissions are every API scope alice holds in config.json.
	cfg, _, err := devissuer.LoadConfig(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if alice, _ := cfg.User("alice"); !slices.Equal(p.Permissions, alice.Scopes) || !slices.Contains(p.Permissions, "write:messages") {
		t.Errorf("permissions: got %q, want %q, with write:messages", p.Permissions, alice.Scopes)
	}
	if !slices.Contains(p.Audiences, e.issuer+"userinfo") {
		t.Errorf("aud %q lacks the userinfo audience", p.Audiences)
	}
	at := claims(t, body["access_token"].(string))
	if at["jti"] == nil || str(at, "azp") != devissuer.DefaultSPAClient {
		t.Errorf("access token lacks jti or azp: %v", at)
	}

	id := claims(t, body["id_token"].(string))
	for k, want := range map[string]any{"iss": e.issuer, "aud": devissuer.DefaultSPAClient, "sub": "dev|alice",
		"nonce": "n0nce", "name": "Alice Example", "email": "alice@example.com", "email_verified": true} {
		if id[k] != want {
			t.Errorf("id token %s: got %v, want %v", k, id[k], want)
		}
	}

	// /userinfo answers for the access token.
	resp := send(t, "GET", e.srv.URL+"/userinfo", http.Header{"Authorization": {"Bearer " + body["access_token"].(string)}}, "")
	var info map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("userinfo body: %v", err)
	}
	if resp.StatusCode != 200 || str(info, "sub") != "dev|alice" || str(info, "email") != "alice@example.com" {
		t.Errorf("userinfo: got %d %v", resp.StatusCode, info)
	}
	if resp := send(t, "GET", e.srv.URL+"/userinfo", http.Header{"Authorization": {"Bearer garbage"}}, ""); resp.StatusCode != 401 {
		t.Errorf("userinfo with garbage: got %d, want 401", resp.StatusCode)
	}
}

func TestUserWithoutScopeGetsNone(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce("xyz")
	back := e.login(authParams(challenge), url.Values{"user": {"bob"}})
	_, body := e.token(codeExchange(back.Query().Get("code"), verifier), true)
	p, err := e.api().Verify(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "dev|bob" || p.HasScope("read:messages") || len(p.Permissions) != 0 {
		t.Errorf("bob: got subject %q scopes %q permissions %q", p.Subject, p.Scopes, p.Permissions)
	}
}

func TestTypedSubjectGetsTickedScopes(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce("sub")
	back := e.login(authParams(challenge), url.Values{"subject": {"dev|carol"}, "scope": {"read:messages"}})
	_, body := e.token(codeExchange(back.Query().Get("code"), verifier), false)
	p, err := e.api().Verify(context.Background(), body["access_token"].(string))
	if err != nil || p.Subject != "dev|carol" || !p.HasScope("read:messages") {
		t.Errorf("typed subject: got %+v, %v", p, err)
	}
}

func TestCodeExchangeRefusals(t *testing.T) {
	verifier, challenge := pkce("pk")
	for _, tc := range []struct {
		name   string
		change func(e *env, p url.Values)
		want   string
	}{
		{"wrong verifier", func(_ *env, p url.Values) { p.Set("code_verifier", strings.Repeat("z", 43)) }, "invalid_grant"},
		{"missing verifier", func(_ *env, p url.Values) { p.Del("code_verifier") }, "invalid_grant"},
		{"verifier is the challenge (plain)", func(_ *env, p url.Values) { p.Set("code_verifier", challenge) }, "invalid_grant"},
		{"wrong redirect_uri", func(_ *env, p url.Values) { p.Set("redirect_uri", "http://localhost:3000") }, "invalid_grant"},
		{"wrong client", func(_ *env, p url.Values) { p.Set("client_id", devissuer.DefaultMachine) }, "invalid_grant"},
		{"unknown code", func(_ *env, p url.Values) { p.Set("code", "made-up") }, "invalid_grant"},
		{"no grant type", func(_ *env, p url.Values) { p.Del("grant_type") }, "invalid_request"},
		{"unknown grant type", func(_ *env, p url.Values) { p.Set("grant_type", "password") }, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			back := e.login(authParams(challenge), url.Values{"user": {"alice"}})
			p := codeExchange(back.Query().Get("code"), verifier)
			tc.change(e, p)
			status, body := e.token(p, false)
			if status != 400 || str(body, "error") != tc.want {
				t.Errorf("got %d %v, want 400 %s", status, body, tc.want)
			}
		})
	}
	// A code lives CodeTTL: one lookup decides, and an expired code is as
	// good as an unknown one.
	for _, tc := range []struct {
		age    time.Duration
		status int
	}{
		{devissuer.CodeTTL - time.Second, 200},
		{devissuer.CodeTTL + time.Second, 400},
	} {
		t.Run(fmt.Sprintf("code used after %v", tc.age), func(t *testing.T) {
			e := newEnv(t)
			back := e.login(authParams(challenge), url.Values{"user": {"alice"}})
			e.clock.Advance(tc.age)
			status, body := e.token(codeExchange(back.Query().Get("code"), verifier), false)
			if status != tc.status {
				t.Fatalf("got %d %v, want %d", status, body, tc.status)
			}
			if status == 400 && (str(body, "error") != "invalid_grant" || str(body, "error_description") != "invalid, expired or already used authorization code") {
				t.Errorf("got %v, want invalid_grant: invalid, expired or already used authorization code", body)
			}
		})
	}
	t.Run("a code works once", func(t *testing.T) {
		e := newEnv(t)
		back := e.login(authParams(challenge), url.Values{"user": {"alice"}})
		p := codeExchange(back.Query().Get("code"), verifier)
		if status, body := e.token(p, false); status != 200 {
			t.Fatalf("first use: got %d %v", status, body)
		}
		if status, body := e.token(p, false); status != 400 || str(body, "error") != "invalid_grant" {
			t.Errorf("second use: got %d %v, want 400 invalid_grant", status, body)
		}
	})
}

func TestAuthorizeRefusals(t *testing.T) {
	_, challenge := pkce("az")
	t.Run("errors shown on a page, never redirected", func(t *testing.T) {
		for name, change := range map[string]func(url.Values){
			"unknown client":         func(q url.Values) { q.Set("client_id", "nobody") },
			"unregistered callback":  func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") },
			"callback with a suffix": func(q url.Values) { q.Set("redirect_uri", spa+"/evil") },
		} {
			e := newEnv(t)
			q := authParams(challenge)
			change(q)
			resp := e.authorize(q)
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
				t.Errorf("%s: got %d Location %q, want 400 and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})
	for _, tc := range []struct {
		name   string
		change func(url.Values)
		want   string
	}{
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"no PKCE method", func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
		{"no PKCE for a public client", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request"},
		{"implicit flow", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"fragment response mode", func(q url.Values) { q.Set("response_mode", "fragment") }, "invalid_request"},
		{"unknown audience", func(q url.Values) { q.Set("audience", "https://other-api") }, "access_denied"},
		{"silent auth without a session", func(q url.Values) { q.Set("prompt", "none") }, "login_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			q := authParams(challenge)
			tc.change(q)
			back := e.redirect(e.authorize(q))
			if back.Query().Get("error") != tc.want || back.Query().Get("state") != "st4te" || !strings.HasPrefix(back.String(), spa) {
				t.Errorf("got %s, want error=%s with state at %s", back, tc.want, spa)
			}
		})
	}
}

func TestSilentAuthWebMessage(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce("wm")
	q := authParams(challenge)
	q.Set("prompt", "none")
	q.Set("response_mode", "web_message")

	read := func() (int, string, http.Header) {
		resp := e.authorize(q)
		return resp.StatusCode, readAll(t, resp), resp.Header
	}
	status, page, h := read()
	if status != 200 || !strings.Contains(page, `"error":"login_required"`) || !strings.Contains(page, `"authorization_response"`) {
		t.Fatalf("no session: got %d\n%s", status, page)
	}
	if !strings.Contains(page, `"http://localhost:5173"`) {
		t.Errorf("postMessage target is not the SPA origin:\n%s", page)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors "+spa) {
		t.Errorf("CSP %q does not limit framing to the SPA", csp)
	}

	e.login(authParams(challenge), url.Values{"user": {"alice"}}) // sets the session cookie
	_, page, _ = read()
	if !regexp.MustCompile(`"code":"[A-Za-z0-9_-]{20,}"`).MatchString(page) || !strings.Contains(page, `"state":"st4te"`) {
		t.Errorf("with a session: want a code and state in the page:\n%s", page)
	}

	// Logging out ends the session; silent auth then needs a login again.
	resp, err := e.browser.Get(e.srv.URL + "/v2/logout?client_id=dev-spa&returnTo=" + url.QueryEscape(spa))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != spa {
		t.Fatalf("logout: got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, page, _ = read(); !strings.Contains(page, "login_required") {
		t.Errorf("after logout: want login_required:\n%s", page)
	}
	resp, err = e.browser.Get(e.srv.URL + "/v2/logout?returnTo=" + url.QueryEscape("https://evil.example/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("logout to an unregistered URL: got %d, want 400", resp.StatusCode)
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce("rt")
	back := e.login(authParams(challenge), url.Values{"user": {"alice"}})
	_, first := e.token(codeExchange(back.Query().Get("code"), verifier), false)
	rt1 := first["refresh_token"].(string)

	refresh := func(rt string) (int, map[string]any) {
		return e.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {devissuer.DefaultSPAClient}, "refresh_token": {rt}}, true)
	}
	status, second := refresh(rt1)
	if status != 200 || second["refresh_token"] == nil || str(second, "refresh_token") == rt1 {
		t.Fatalf("refresh: got %d %v, want a new refresh token", status, second)
	}
	if _, err := e.api().Verify(context.Background(), second["access_token"].(string)); err != nil {
		t.Errorf("refreshed access token refused: %v", err)
	}
	rt2 := second["refresh_token"].(string)
	// Reusing the rotated-out token revokes the whole family, rt2 included.
	if status, body := refresh(rt1); status != 400 || str(body, "error") != "invalid_grant" {
		t.Errorf("reuse of rt1: got %d %v, want invalid_grant", status, body)
	}
	if status, body := refresh(rt2); status != 400 || str(body, "error") != "invalid_grant" {
		t.Errorf("rt2 after reuse detection: got %d %v, want invalid_grant", status, body)
	}
	if status, _ := e.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {"dev-spa"}, "refresh_token": {"nope"}}, false); status != 400 {
		t.Errorf("unknown refresh token: got %d", status)
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine},
		"client_secret": {devissuer.DefaultMachineToken}, "audience": {devissuer.DefaultAudience}}
	for _, asJSON := range []bool{false, true} {
		status, body := e.token(good, asJSON)
		if status != 200 {
			t.Fatalf("json=%v: got %d %v", asJSON, status, body)
		}
		p, err := e.api().Verify(context.Background(), body["access_token"].(string))
		if err != nil {
			t.Fatalf("API refused the machine token: %v", err)
		}
		if p.Subject != "dev-machine@clients" || !p.HasScope("read:messages") || !p.HasScope("write:messages") {
			t.Errorf("machine principal: %+v", p)
		}
		if str(claims(t, body["access_token"].(string)), "gty") != "client-credentials" {
			t.Errorf("gty claim missing")
		}
	}

	narrow := url.Values{}
	for k, v := range good {
		narrow[k] = v
	}
	narrow.Set("scope", "read:messages delete:everything")
	_, body := e.token(narrow, false)
	if str(body, "scope") != "read:messages" {
		t.Errorf("requested subset: got scope %v, want read:messages", body["scope"])
	}

	// HTTP Basic client authentication.
	basic := url.UserPassword(devissuer.DefaultMachine, devissuer.DefaultMachineToken).String()
	if resp := send(t, "POST", e.srv.URL+"/oauth/token", http.Header{
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(basic))},
	}, "grant_type=client_credentials"); resp.StatusCode != 200 {
		t.Errorf("basic auth: got %d", resp.StatusCode)
	}

	for name, change := range map[string]func(url.Values){
		"wrong secret":     func(p url.Values) { p.Set("client_secret", "guess") },
		"public client":    func(p url.Values) { p.Set("client_id", devissuer.DefaultSPAClient); p.Del("client_secret") },
		"unknown audience": func(p url.Values) { p.Set("audience", "https://other-api") },
	} {
		p := url.Values{}
		for k, v := range good {
			p[k] = v
		}
		change(p)
		status, body := e.token(p, false)
		want := map[string]string{"wrong secret": "invalid_client", "public client": "invalid_client", "unknown audience": "access_denied"}[name]
		if status < 400 || str(body, "error") != want {
			t.Errorf("%s: got %d %v, want %s", name, status, body, want)
		}
	}
	if resp := send(t, "POST", e.srv.URL+"/oauth/token", http.Header{"Content-Type": {"text/plain"}}, "x"); resp.StatusCode != 400 {
		t.Errorf("text/plain body: got %d, want 400", resp.StatusCode)
	}
	// A malformed parameter makes the whole Content-Type malformed, for
	// JSON as for forms (whose parser refuses it): the good body is refused.
	goodJSON, err := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": devissuer.DefaultMachine,
		"client_secret": devissuer.DefaultMachineToken})
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8"} {
		if resp := send(t, "POST", e.srv.URL+"/oauth/token", http.Header{"Content-Type": {ct}}, string(goodJSON)); resp.StatusCode != 200 {
			t.Errorf("%s: got %d, want 200", ct, resp.StatusCode)
		}
	}
	for _, ct := range []string{"application/json; a", "application/json; charset", "application/x-www-form-urlencoded; a"} {
		body := string(goodJSON)
		if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			body = "grant_type=client_credentials&client_id=" + devissuer.DefaultMachine + "&client_secret=" + devissuer.DefaultMachineToken
		}
		resp := send(t, "POST", e.srv.URL+"/oauth/token", http.Header{"Content-Type": {ct}}, body)
		var answer map[string]any
		json.NewDecoder(resp.Body).Decode(&answer)
		if resp.StatusCode != 400 || str(answer, "error") != "invalid_request" {
			t.Errorf("%q: got %d %q, want 400 invalid_request", ct, resp.StatusCode, str(answer, "error"))
		}
	}
}

func TestCORSForTheSPA(t *testing.T) {
	e := newEnv(t)
	preflight := http.Header{"Origin": {spa}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type,auth0-client"}}
	resp := send(t, "OPTIONS", e.srv.URL+"/oauth/token", preflight, "")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != spa ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "auth0-client") {
		t.Errorf("preflight from the SPA: got %d %v", resp.StatusCode, resp.Header)
	}
	preflight.Set("Origin", "https://evil.example")
	resp = send(t, "OPTIONS", e.srv.URL+"/oauth/token", preflight, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin allowed")
	}
}

func TestKeysPersistAndRotate(t *testing.T) {
	e := newEnv(t)
	m := &devissuer.Minter{Issuer: e.issuer, Audience: devissuer.DefaultAudience, Now: e.clock.Now}
	var err error
	if m.Keys, err = devissuer.OpenKeys(e.dir, e.clock.Now); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(e.dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys.json: mode %v, want 0600", fi.Mode().Perm())
	}

	// A token minted before a restart (a new Keys on the same dir) verifies.
	before, _, err := m.AccessToken(devissuer.Grant{Subject: "dev|alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.api().Verify(context.Background(), before); err != nil {
		t.Fatalf("token before rotation: %v", err)
	}
	oldKID := jwtKID(t, before)

	if m.Keys, err = devissuer.OpenKeys(e.dir, e.clock.Now); err != nil {
		t.Fatal(err)
	}
	newKID, err := m.Keys.Rotate()
	if err != nil || newKID == oldKID {
		t.Fatalf("Rotate: %q, %v", newKID, err)
	}
	after, _, err := m.AccessToken(devissuer.Grant{Subject: "dev|alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if jwtKID(t, after) != newKID {
		t.Errorf("new tokens are not signed with the new key")
	}
	// The running issuer publishes both; the API picks the new key up
	// (unknown kid) and still accepts the old key's tokens.
	e.clock.Advance(jwtverify.DefaultUnknownKeyCooldown)
	for name, tok := range map[string]string{"new": after, "old": before} {
		if _, err := e.api().Verify(context.Background(), tok); err != nil {
			t.Errorf("%s key's token after rotation: %v", name, err)
		}
	}
	jwks := func() string {
		resp := send(t, "GET", e.srv.URL+"/.well-known/jwks.json", nil, "")
		if resp.StatusCode != 200 {
			t.Fatalf("JWKS: got %d", resp.StatusCode)
		}
		return readAll(t, resp)
	}
	if j := jwks(); !strings.Contains(j, oldKID) || !strings.Contains(j, newKID) {
		t.Errorf("JWKS after rotation lacks a key: %s", j)
	}
	e.clock.Advance(devissuer.MaxTokenTTL + time.Minute)
	if j := jwks(); strings.Contains(j, oldKID) || !strings.Contains(j, newKID) {
		t.Errorf("JWKS a day after rotation: want only the new key, got %s", j)
	}
}

func jwtKID(t *testing.T, tok string) string {
	t.Helper()
	tk, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tk.Header["kid"].(string)
}

func TestKeysRefuseLooseFileMode(t *testing.T) {
	dir := t.TempDir()
	if _, err := devissuer.OpenKeys(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "keys.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := devissuer.OpenKeys(dir, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("got %v, want a refusal telling to chmod 600", err)
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg, path, err := devissuer.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "config.json") || len(cfg.Users) != 2 || cfg.Audience != devissuer.DefaultAudience {
		t.Errorf("defaults: %q %+v", path, cfg)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("config.json not written: %v", err)
	}
	for name, content := range map[string]string{
		"unknown field":  `{"audience":"a","users":[{"id":"x","subject":"s"}],"colour":"red"}`,
		"no users":       `{"audience":"a","users":[]}`,
		"no audience":    `{"users":[{"id":"x","subject":"s"}]}`,
		"duplicate user": `{"audience":"a","users":[{"id":"x","subject":"s"},{"id":"x","subject":"t"}]}`,
		"bad callback":   `{"audience":"a","users":[{"id":"x","subject":"s"}],"clients":[{"client_id":"c","callbacks":["/relative"]}]}`,
		"not JSON":       `audience: a`,
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := devissuer.LoadConfig(dir); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want an error naming %s", name, err, path)
		}
	}
}

// Two processes starting on a fresh directory (the server and api token)
// must publish and sign with the same first key from the start: a key one
// of them published must never be replaced by the other's.
func TestFirstRunRace(t *testing.T) {
	for range 20 {
		dir := t.TempDir()
		seen := make(chan string, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := devissuer.LoadConfig(dir); err != nil {
					t.Error(err)
				}
				k, err := devissuer.OpenKeys(dir, nil)
				if err != nil {
					t.Error(err)
					return
				}
				jwks, err := k.JWKS()
				if err != nil || !strings.Contains(string(jwks), `"kid"`) {
					t.Errorf("JWKS: got %s, %v; want a key", jwks, err)
					return
				}
				seen <- string(jwks)
			}()
		}
		wg.Wait()
		close(seen)
		k, err := devissuer.OpenKeys(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		final, err := k.JWKS()
		if err != nil || !strings.Contains(string(final), `"kid"`) {
			t.Fatalf("final JWKS: got %s, %v; want a key", final, err)
		}
		if len(seen) != 8 {
			t.Fatalf("%d of 8 processes published keys", len(seen))
		}
		for s := range seen {
			if s != string(final) {
				t.Fatalf("a process published a key that was then replaced:\n%s\n%s", s, final)
			}
		}
	}
}
