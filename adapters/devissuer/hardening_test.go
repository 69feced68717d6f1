package devissuer_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/devissuer"
)

// newBrowser returns another browser (its own cookies) for e's issuer.
func (e *env) newBrowser() *http.Client {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loginPage GETs /authorize with browser and returns the login page's txn.
func (e *env) loginPage(browser *http.Client, q url.Values) string {
	e.t.Helper()
	resp, err := browser.Get(e.srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		e.t.Fatal(err)
	}
	body := readAll(e.t, resp)
	m := txnField.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		e.t.Fatalf("login page: got %d without a txn field:\n%.500s", resp.StatusCode, body)
	}
	return m[1]
}

// postLogin posts the login form as browser would, with extra headers.
func (e *env) postLogin(browser *http.Client, form url.Values, header http.Header) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := browser.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, readAll(e.t, resp)
}

func TestAuthorizeRefusesOversizedParameters(t *testing.T) {
	_, challenge := pkce("big")
	for _, name := range []string{"state", "nonce", "scope"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			q := authParams(challenge)
			q.Set(name, strings.Repeat("a", devissuer.MaxParamLength+1))
			resp := e.authorize(q)
			body := readAll(t, resp)
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "Request too large") ||
				!strings.Contains(body, fmt.Sprintf("%s is %d bytes long", name, devissuer.MaxParamLength+1)) {
				t.Errorf("got %d Location %q:\n%.300s\nwant 400 Request too large, no redirect", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if len(body) > 4000 {
				t.Errorf("the error page is %d bytes: it echoes the parameter", len(body))
			}
			// At the limit it is accepted.
			q.Set(name, strings.Repeat("a", devissuer.MaxParamLength))
			e.loginPage(e.browser, q)
		})
	}
	t.Run("echoed client_id is clipped", func(t *testing.T) {
		e := newEnv(t)
		q := authParams(challenge)
		q.Set("client_id", strings.Repeat("c", 100_000))
		resp := e.authorize(q)
		if body := readAll(t, resp); resp.StatusCode != 400 || len(body) > 4000 {
			t.Errorf("unknown 100 kB client_id: got %d with a %d-byte page, want 400 and a short page", resp.StatusCode, len(body))
		}
	})
}

// Pending logins are bounded: beyond MaxPendingLogins the oldest is
// forgotten, and /authorize keeps answering.
func TestPendingLoginsAreBounded(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce("many")
	var txns []string
	for range devissuer.MaxPendingLogins + 50 {
		txns = append(txns, e.loginPage(e.browser, authParams(challenge)))
	}
	resp, body := e.postLogin(e.browser, url.Values{"txn": {txns[49]}, "user": {"alice"}}, nil)
	if resp.StatusCode != 400 || !strings.Contains(body, "Login expired") {
		t.Errorf("login 50 of %d (forgotten): got %d, want 400 Login expired", len(txns), resp.StatusCode)
	}
	resp, _ = e.postLogin(e.browser, url.Values{"txn": {txns[50]}, "user": {"alice"}}, nil)
	if back := e.redirect(resp); back.Query().Get("code") == "" {
		t.Errorf("login 51 (the oldest kept): got %s, want a code", back)
	}
}

func TestLoginCSRF(t *testing.T) {
	_, challenge := pkce("csrf")
	t.Run("the browser cookie", func(t *testing.T) {
		e := newEnv(t)
		resp := e.authorize(authParams(challenge))
		readAll(t, resp)
		var c *http.Cookie
		for _, sc := range resp.Cookies() {
			if sc.Name == "devissuer_browser" {
				c = sc
			}
		}
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || len(c.Value) != 32 {
			t.Fatalf("got cookie %+v, want devissuer_browser, HttpOnly, SameSite=Lax, Path=/", c)
		}
		// The same browser keeps its cookie for a second login page.
		resp = e.authorize(authParams(challenge))
		readAll(t, resp)
		for _, sc := range resp.Cookies() {
			if sc.Name == "devissuer_browser" && sc.Value != c.Value {
				t.Errorf("second /authorize replaced the cookie %q with %q", c.Value, sc.Value)
			}
		}
	})
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"another origin", http.Header{"Origin": {"https://evil.example"}}},
		{"the SPA's origin", http.Header{"Origin": {spa}}},
		{"an opaque origin", http.Header{"Origin": {"null"}}},
		{"a cross-site fetch", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"a same-site fetch from another port", http.Header{"Sec-Fetch-Site": {"same-site"}}},
	} {
		t.Run("cross-origin post: "+tc.name, func(t *testing.T) {
			e := newEnv(t)
			txn := e.loginPage(e.browser, authParams(challenge))
			resp, body := e.postLogin(e.browser, url.Values{"txn": {txn}, "user": {"alice"}}, tc.header)
			if resp.StatusCode != 403 || !strings.Contains(body, "Cross-site login refused") || resp.Header.Get("Location") != "" {
				t.Fatalf("got %d Location %q, want 403 Cross-site login refused", resp.StatusCode, resp.Header.Get("Location"))
			}
			// The login itself is untouched: its own page may still post it.
			same := http.Header{"Origin": {e.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}
			resp, _ = e.postLogin(e.browser, url.Values{"txn": {txn}, "user": {"alice"}}, same)
			if back := e.redirect(resp); back.Query().Get("code") == "" {
				t.Errorf("same-origin post afterwards: got %s, want a code", back)
			}
		})
	}
	t.Run("a txn posted by another browser", func(t *testing.T) {
		e := newEnv(t)
		attacker := e.newBrowser()
		txn := e.loginPage(attacker, authParams(challenge)) // the attacker's own login
		victim := e.browser
		resp, body := e.postLogin(victim, url.Values{"txn": {txn}, "user": {"alice"}}, nil)
		if resp.StatusCode != 403 || !strings.Contains(body, "Login refused") {
			t.Errorf("got %d, want 403 Login refused", resp.StatusCode)
		}
		for _, c := range resp.Cookies() {
			if c.Name == "devissuer_session" {
				t.Errorf("the victim's browser got a session")
			}
		}
		// Nor can the attacker finish it now: a txn is used once.
		resp, body = e.postLogin(attacker, url.Values{"txn": {txn}, "user": {"alice"}}, nil)
		if resp.StatusCode != 400 || !strings.Contains(body, "Login expired") {
			t.Errorf("attacker after the refusal: got %d, want 400 Login expired", resp.StatusCode)
		}
	})
	t.Run("a txn posted without the cookie", func(t *testing.T) {
		e := newEnv(t)
		txn := e.loginPage(e.browser, authParams(challenge))
		resp, body := e.postLogin(&http.Client{CheckRedirect: e.browser.CheckRedirect}, url.Values{"txn": {txn}, "user": {"alice"}}, nil)
		if resp.StatusCode != 403 || !strings.Contains(body, "Login refused") {
			t.Errorf("got %d, want 403 Login refused", resp.StatusCode)
		}
	})
}

// A typed-in subject is granted only scopes the login page offered, even
// later through its session.
func TestTickedScopesAreThoseOffered(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce("tick")
	q := authParams(challenge)
	q.Set("scope", "openid read:messages")
	e.login(q, url.Values{"subject": {"dev|carol"}, "scope": {"read:messages", "write:messages", "delete:everything"}})

	q.Set("scope", "openid read:messages write:messages delete:everything")
	q.Set("prompt", "none")
	back := e.redirect(e.authorize(q))
	_, body := e.token(codeExchange(back.Query().Get("code"), verifier), false)
	if str(body, "scope") != "openid read:messages" {
		t.Errorf("silent login asking for more: got scope %v, want openid read:messages", body["scope"])
	}
}

// refreshFrom logs alice in granting scope and returns the token response.
func refreshFrom(e *env, scope string) map[string]any {
	e.t.Helper()
	verifier, challenge := pkce("rfr")
	q := authParams(challenge)
	q.Set("scope", scope)
	back := e.login(q, url.Values{"user": {"alice"}})
	status, body := e.token(codeExchange(back.Query().Get("code"), verifier), false)
	if status != 200 || str(body, "scope") != scope {
		e.t.Fatalf("login: got %d %v, want scope %q", status, body, scope)
	}
	return body
}

func (e *env) refresh(rt, scope string) (int, map[string]any) {
	e.t.Helper()
	p := url.Values{"grant_type": {"refresh_token"}, "client_id": {devissuer.DefaultSPAClient}, "refresh_token": {rt}}
	if scope != "" {
		p.Set("scope", scope)
	}
	return e.token(p, false)
}

// A refresh never widens what the login granted (alice holds
// write:messages, but the login did not grant it).
func TestRefreshNeverWidensScopes(t *testing.T) {
	for _, tc := range []struct{ ask, want string }{
		{"read:messages write:messages", "read:messages"},
		{"openid offline_access write:messages delete:everything", "openid offline_access"},
		{"write:messages", ""},
	} {
		t.Run(tc.ask, func(t *testing.T) {
			e := newEnv(t)
			first := refreshFrom(e, "openid read:messages offline_access")
			status, body := e.refresh(first["refresh_token"].(string), tc.ask)
			if status != 200 {
				t.Fatalf("refresh: got %d %v", status, body)
			}
			if got, _ := body["scope"].(string); got != tc.want {
				t.Errorf("scope: got %q, want %q", got, tc.want)
			}
			if got, _ := claims(t, body["access_token"].(string))["scope"].(string); got != tc.want {
				t.Errorf("access token scope: got %q, want %q", got, tc.want)
			}
		})
	}
}

// A refresh asking for fewer scopes, without offline_access, still rotates:
// a new refresh token in the same family, holding the whole grant.
func TestRefreshWithFewerScopesKeepsRotation(t *testing.T) {
	e := newEnv(t)
	full := "openid read:messages offline_access"
	rt1 := refreshFrom(e, full)["refresh_token"].(string)

	status, second := e.refresh(rt1, "read:messages")
	rt2, _ := second["refresh_token"].(string)
	if status != 200 || str(second, "scope") != "read:messages" || rt2 == "" || rt2 == rt1 {
		t.Fatalf("narrowed refresh: got %d %v, want scope read:messages and a new refresh token", status, second)
	}
	if second["id_token"] != nil {
		t.Errorf("narrowed refresh without openid got an ID token")
	}
	status, third := e.refresh(rt2, "")
	rt3, _ := third["refresh_token"].(string)
	if status != 200 || str(third, "scope") != full || rt3 == "" {
		t.Fatalf("refresh with the successor: got %d %v, want scope %q and a new refresh token", status, third, full)
	}
	// Same family: reusing rt1 revokes rt3.
	if status, body := e.refresh(rt1, ""); status != 400 || str(body, "error") != "invalid_grant" {
		t.Errorf("reuse of rt1: got %d %v, want 400 invalid_grant", status, body)
	}
	if status, body := e.refresh(rt3, ""); status != 400 || str(body, "error") != "invalid_grant" {
		t.Errorf("rt3 after rt1's reuse: got %d %v, want 400 invalid_grant (one family)", status, body)
	}
}

func TestDevFilesWritableByOthers(t *testing.T) {
	for _, tc := range []struct {
		name                string
		dirMode, configMode os.FileMode
		want                string // "" when accepted
	}{
		{"private", 0o700, 0o600, ""},
		{"readable by others", 0o755, 0o644, ""},
		{"world-writable folder", 0o777, 0o600, "folder; run chmod go-w"},
		{"group-writable folder", 0o770, 0o600, "folder; run chmod go-w"},
		{"world-writable config.json", 0o700, 0o646, "file; run chmod go-w"},
		{"group-writable config.json", 0o700, 0o620, "file; run chmod go-w"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dev")
			if _, _, err := devissuer.LoadConfig(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := devissuer.OpenKeys(dir, nil); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, "config.json"), tc.configMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			_, _, errConfig := devissuer.LoadConfig(dir)
			_, _, errOpen := devissuer.Open(dir, "http://localhost:1/", nil, slog.Default())
			if tc.want == "" {
				if errConfig != nil || errOpen != nil {
					t.Errorf("got %v, %v; want both accepted", errConfig, errOpen)
				}
				return
			}
			for _, err := range []error{errConfig, errOpen} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got %v, want an error saying %q", err, tc.want)
				}
			}
			if strings.Contains(tc.want, "folder") {
				if _, err := devissuer.OpenKeys(dir, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("OpenKeys: got %v, want an error saying %q", err, tc.want)
				}
			}
		})
	}
}

func TestKeysFileWithoutKeysStopsStartUp(t *testing.T) {
	// A file whose only key is retired.
	gen := t.TempDir()
	if _, err := devissuer.OpenKeys(gen, nil); err != nil {
		t.Fatal(err)
	}
	var file struct{ Keys []map[string]any }
	b, err := os.ReadFile(filepath.Join(gen, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &file); err != nil || len(file.Keys) != 1 {
		t.Fatalf("keys.json: %v, %d keys", err, len(file.Keys))
	}
	file.Keys[0]["retire_after"] = "2020-01-01T00:00:00Z"
	retired, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{`{"keys":[]}`, `{"keys":null}`, `{}`, `{"keys":[null]}`, string(retired)} {
		t.Run(content[:min(len(content), 20)], func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "keys.json"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := devissuer.Open(dir, "http://localhost:1/", nil, slog.Default())
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "keys.json")) {
				t.Fatalf("got %v, want an error naming keys.json", err)
			}
			if !strings.Contains(content, "null]") && !strings.Contains(err.Error(), "delete the file to generate a new key") {
				t.Errorf("got %v, want it to say how to get a new key", err)
			}
		})
	}
}

func TestConfigURLsAreHTTP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	client := func(field, value string) string {
		return fmt.Sprintf(`{"audience":"a","users":[{"id":"x","subject":"s"}],"clients":[{"client_id":"c",%q:[%q]}]}`, field, value)
	}
	for _, tc := range []struct {
		field, value string
		ok           bool
	}{
		{"callbacks", "javascript://example.com/%0aalert(1)", false},
		{"callbacks", "JavaScript://example.com/", false},
		{"callbacks", "data://example.com/text", false},
		{"callbacks", "com.example.app://callback", false},
		{"logout_urls", "javascript://x/", false},
		{"web_origins", "javascript://x", false},
		{"web_origins", "ftp://localhost:21", false},
		{"callbacks", "https://app.example.com/callback", true},
		{"logout_urls", "http://localhost:5173", true},
		{"web_origins", "HTTPS://App.example.com", true},
	} {
		if err := os.WriteFile(path, []byte(client(tc.field, tc.value)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := devissuer.LoadConfig(dir)
		if tc.ok != (err == nil) {
			t.Errorf("%s %q: got %v, want accepted=%v", tc.field, tc.value, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "http(s)") {
			t.Errorf("%s %q: got %v, want it to say http(s)", tc.field, tc.value, err)
		}
	}
}

// RFC 6749 §3.1: request parameters must not be included more than once.
// Every /authorize parameter the issuer reads, given twice (even with the
// same value), is refused: client_id and redirect_uri on a page (the
// client and callback are not known good), the others with
// invalid_request sent to the callback — without a state when state is
// the one repeated, since which to send back cannot be told. Nothing is
// kept: no login page, no code.
func TestAuthorizeRefusesRepeatedParameters(t *testing.T) {
	_, challenge := pkce("twice")
	for _, name := range []string{"client_id", "redirect_uri"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			q := authParams(challenge)
			q.Add(name, q.Get(name))
			resp := e.authorize(q)
			body := readAll(t, resp)
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "Repeated parameter") ||
				!strings.Contains(body, name+" is given more than once") {
				t.Errorf("got %d Location %q:\n%.400s\nwant 400 Repeated parameter, no redirect", resp.StatusCode, resp.Header.Get("Location"), body)
			}
		})
	}
	for _, tc := range []struct{ name, second string }{
		{"response_type", "code"}, {"response_mode", "query"}, {"scope", "openid"}, {"state", "st4te"}, {"nonce", "other"},
		{"audience", devissuer.DefaultAudience}, {"code_challenge", challenge}, {"code_challenge_method", "S256"},
		{"dpop_jkt", strings.Repeat("A", 43)}, {"prompt", "login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			q := authParams(challenge)
			if tc.name == "dpop_jkt" || tc.name == "prompt" { // not sent by default: sent twice
				q.Add(tc.name, tc.second)
			}
			q.Add(tc.name, tc.second)
			back := e.redirect(e.authorize(q))
			wantState := "st4te"
			if tc.name == "state" {
				wantState = ""
			}
			got := back.Query()
			if !strings.HasPrefix(back.String(), spa+"?") || got.Get("error") != "invalid_request" ||
				got.Get("error_description") != tc.name+" is given more than once" || got.Has("code") || got.Get("state") != wantState || got.Has("state") != (wantState != "") {
				t.Errorf("got %s, want %s?error=invalid_request&error_description=%s+is+given+more+than+once with state %q", back, spa, tc.name, wantState)
			}
		})
	}
	t.Run("response_mode twice: the error is redirected, not posted", func(t *testing.T) {
		e := newEnv(t)
		q := authParams(challenge)
		q["response_mode"] = []string{"web_message", "web_message"}
		back := e.redirect(e.authorize(q))
		if back.Query().Get("error_description") != "response_mode is given more than once" {
			t.Errorf("got %s, want response_mode is given more than once", back)
		}
	})
	t.Run("with a session, prompt=none twice gets no code", func(t *testing.T) {
		e := newEnv(t)
		e.login(authParams(challenge), url.Values{"user": {"alice"}})
		q := authParams(challenge)
		q["prompt"] = []string{"none", "none"}
		back := e.redirect(e.authorize(q))
		if back.Query().Has("code") || back.Query().Get("error_description") != "prompt is given more than once" {
			t.Errorf("got %s, want invalid_request and no code", back)
		}
	})
	t.Run("with a session, prompt=none with login gets no code", func(t *testing.T) {
		e := newEnv(t)
		e.login(authParams(challenge), url.Values{"user": {"alice"}})
		for _, prompt := range []string{"none login", "login none", "none consent"} {
			q := authParams(challenge)
			q.Set("prompt", prompt)
			back := e.redirect(e.authorize(q))
			if back.Query().Has("code") || back.Query().Get("error") != "invalid_request" ||
				back.Query().Get("error_description") != "prompt=none cannot be combined with other values" {
				t.Errorf("prompt=%s: got %s, want invalid_request and no code (OpenID Connect Core §3.1.2.1)", prompt, back)
			}
		}
	})
	t.Run("a parameter the issuer does not read may be repeated", func(t *testing.T) {
		e := newEnv(t)
		q := authParams(challenge)
		q["auth0Client"] = []string{"a", "b"}
		e.loginPage(e.browser, q)
	})
}

// The same for /oauth/token, in forms and in JSON (a member named twice,
// also when one name is escaped), and a JSON body with data after it. A
// refused request does not use the code up: the same exchange done right
// afterwards succeeds.
func TestTokenRefusesRepeatedParametersAndTrailingData(t *testing.T) {
	verifier, challenge := pkce("tw")
	post := func(t *testing.T, e *env, ctype, body string) (int, map[string]any) {
		t.Helper()
		resp := send(t, "POST", e.srv.URL+"/oauth/token", http.Header{"Content-Type": {ctype}}, body)
		var answer map[string]any
		if err := json.Unmarshal([]byte(readAll(t, resp)), &answer); err != nil {
			t.Fatalf("answer: %v", err)
		}
		return resp.StatusCode, answer
	}
	const form, asJSON = "application/x-www-form-urlencoded", "application/json"
	jsonOf := func(t *testing.T, p url.Values) string { // members in a fixed order, the repeated one last
		t.Helper()
		var b strings.Builder
		b.WriteString("{")
		for _, k := range []string{"grant_type", "client_id", "code", "code_verifier", "redirect_uri"} {
			fmt.Fprintf(&b, "%q:%q,", k, p.Get(k))
		}
		return strings.TrimSuffix(b.String(), ",")
	}
	for _, name := range []string{"grant_type", "code", "redirect_uri", "client_id", "code_verifier", "scope", "audience", "client_secret", "refresh_token"} {
		for _, ctype := range []string{form, asJSON} {
			t.Run(name+" in "+ctype, func(t *testing.T) {
				e := newEnv(t)
				back := e.login(authParams(challenge), url.Values{"user": {"alice"}})
				good := codeExchange(back.Query().Get("code"), verifier)
				twice := url.Values{}
				for k, v := range good {
					twice[k] = v
				}
				second := good.Get(name)
				if second == "" {
					second = "x"
					twice.Add(name, second)
				}
				twice.Add(name, second)
				body := twice.Encode()
				if ctype == asJSON {
					body = jsonOf(t, good)
					if good.Get(name) == "" {
						body += fmt.Sprintf(",%q:%q", name, second)
					}
					// the repeated name written with an escape: the same name decoded
					body += fmt.Sprintf(`,"\u%04x%s":%q}`, name[0], name[1:], second)
				}
				status, answer := post(t, e, ctype, body)
				if status != 400 || str(answer, "error") != "invalid_request" || str(answer, "error_description") != name+" is given more than once" {
					t.Errorf("%s: got %d %v, want 400 invalid_request %q", body, status, answer, name+" is given more than once")
				}
				if status, answer := e.token(good, false); status != 200 {
					t.Errorf("the same exchange, once each, afterwards: got %d %v, want 200 (the refusal used the code up)", status, answer)
				}
			})
		}
	}
	for _, tc := range []struct {
		name, after string
		status      int
	}{
		{"a second object", `{}`, 400}, {"a word", ` x`, 400}, {"a NUL", "\x00", 400}, {"a BOM", "\ufeff", 400},
		{"white space", " \r\n\t ", 200}, {"nothing", "", 200},
	} {
		t.Run("JSON followed by "+tc.name, func(t *testing.T) {
			e := newEnv(t)
			back := e.login(authParams(challenge), url.Values{"user": {"alice"}})
			good := codeExchange(back.Query().Get("code"), verifier)
			status, answer := post(t, e, asJSON, jsonOf(t, good)+"}"+tc.after)
			if status != tc.status {
				t.Fatalf("got %d %v, want %d", status, answer, tc.status)
			}
			if tc.status == 400 && (str(answer, "error") != "invalid_request" || str(answer, "error_description") != "the body has data after its JSON object") {
				t.Errorf("got %v, want invalid_request: the body has data after its JSON object", answer)
			}
		})
	}
}
