package devissuer_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
)

const mfa = devissuer.ACRMultiFactor

var codeShown = regexp.MustCompile(`data-testid="second-step-code">(\d{6})<`)

// codePage reads the second step's page: its one-time code and txn.
func codePage(t *testing.T, resp *http.Response, wantStatus int) (code, txn string) {
	t.Helper()
	body := readAll(t, resp)
	c, m := codeShown.FindStringSubmatch(body), txnField.FindStringSubmatch(body)
	if resp.StatusCode != wantStatus || c == nil || m == nil {
		t.Fatalf("second step: got %d, want %d with a code and a txn:\n%.1500s", resp.StatusCode, wantStatus, body)
	}
	return c[1], m[1]
}

// postForm posts the login (or code) form with e's browser.
func (e *env) postForm(form url.Values) *http.Response {
	e.t.Helper()
	resp, err := e.browser.PostForm(e.srv.URL+"/login", form)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// exchange trades the code in back for tokens.
func (e *env) exchange(back *url.URL, verifier string) map[string]any {
	e.t.Helper()
	if back.Query().Get("code") == "" {
		e.t.Fatalf("no code in %s", back)
	}
	status, body := e.token(codeExchange(back.Query().Get("code"), verifier), false)
	if status != 200 {
		e.t.Fatalf("token: got %d %v", status, body)
	}
	return body
}

// loginOf is what a token says of the login: auth_time, acr and amr.
func loginOf(t *testing.T, tok string) (authTime float64, acr string, amr []string) {
	t.Helper()
	c := claims(t, tok)
	authTime, _ = c["auth_time"].(float64)
	acr, _ = c["acr"].(string)
	if list, ok := c["amr"].([]any); ok {
		for _, m := range list {
			s, _ := m.(string)
			amr = append(amr, s)
		}
	}
	return authTime, acr, amr
}

// acr_values asking for the second step: the browser already logged in
// with one step is asked for the one-time code alone; a wrong code asks
// again with the same code, the right one gives tokens with acr, amr and
// a new auth_time, which the API's adapter reads; a refresh keeps them.
func TestStepUpSecondStep(t *testing.T) {
	e := newEnv(t)
	resp := send(t, "GET", e.srv.URL+"/.well-known/openid-configuration", nil, "")
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(doc["acr_values_supported"]); string(got) != `["`+mfa+`"]` {
		t.Errorf("acr_values_supported: got %s, want [%q]", got, mfa)
	}

	// One step: auth_time and amr pwd, no acr.
	verifier, challenge := pkce("one")
	first := e.exchange(e.login(authParams(challenge), url.Values{"user": {"alice"}}), verifier)
	firstTime, acr, amr := loginOf(t, first["access_token"].(string))
	if firstTime == 0 || acr != "" || !slices.Equal(amr, []string{"pwd"}) {
		t.Fatalf("one-step login: got auth_time %v, acr %q, amr %q; want a time, no acr, [pwd]", firstTime, acr, amr)
	}
	if p, err := e.api().Verify(context.Background(), first["access_token"].(string)); err != nil || p.ACR != "" || p.AuthTime.Unix() != int64(firstTime) {
		t.Fatalf("API: got %+v, %v", p, err)
	}

	e.clock.Advance(2 * time.Minute)
	verifier, challenge = pkce("two")
	q := authParams(challenge)
	q.Set("acr_values", "urn:other "+mfa)
	q.Set("max_age", "600")
	code, txn := codePage(t, e.authorize(q), http.StatusOK)

	// A wrong code: the same page again, saying so, the same code.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	again, txn2 := codePage(t, e.postForm(url.Values{"txn": {txn}, "code": {wrong}}), http.StatusUnprocessableEntity)
	if again != code {
		t.Errorf("after a wrong code the page shows %s, want the same code %s", again, code)
	}
	// The old txn is used up.
	if resp := e.postForm(url.Values{"txn": {txn}, "code": {code}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the first code page's txn again: got %d, want 400", resp.StatusCode)
	}
	back := e.redirect(e.postForm(url.Values{"txn": {txn2}, "code": {code}}))
	second := e.exchange(back, verifier)
	for name, tok := range map[string]string{"access": second["access_token"].(string), "id": second["id_token"].(string)} {
		at, acr, amr := loginOf(t, tok)
		if at != firstTime+120 || acr != mfa || !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
			t.Errorf("%s token after the second step: got auth_time %v (first login %v), acr %q, amr %q; want 2 min later, %s, [pwd otp mfa]",
				name, at, firstTime, acr, amr, mfa)
		}
	}
	p, err := e.api().Verify(context.Background(), second["access_token"].(string))
	if err != nil || p.ACR != mfa || !slices.Equal(p.AMR, []string{"pwd", "otp", "mfa"}) || p.AuthTime.Unix() != int64(firstTime)+120 {
		t.Fatalf("API: got acr %q amr %q auth_time %v, %v", p.ACR, p.AMR, p.AuthTime, err)
	}

	// A refresh an hour later keeps the login as it was: no new auth_time.
	e.clock.Advance(time.Hour)
	status, refreshed := e.refresh(second["refresh_token"].(string), "")
	if status != 200 {
		t.Fatalf("refresh: got %d %v", status, refreshed)
	}
	for name, tok := range map[string]string{"access": refreshed["access_token"].(string), "id": refreshed["id_token"].(string)} {
		if tok == "" {
			continue
		}
		if at, acr, amr := loginOf(t, tok); at != firstTime+120 || acr != mfa || !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
			t.Errorf("refreshed %s token: got auth_time %v, acr %q, amr %q; want the second step's", name, at, acr, amr)
		}
	}

	// The session now has the second step, but is an hour old: max_age
	// 600 asks for a whole login again; without max_age it answers at once.
	verifier, challenge = pkce("thr")
	q = authParams(challenge)
	q.Set("acr_values", mfa)
	if at, acr, _ := loginOf(t, e.exchange(e.redirect(e.authorize(q)), verifier)["access_token"].(string)); at != firstTime+120 || acr != mfa {
		t.Errorf("strong session, no max_age: got auth_time %v acr %q, want the session's", at, acr)
	}
	q.Set("max_age", "600")
	resp = e.authorize(q)
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `data-testid="login-user-alice"`) ||
		!strings.Contains(body, "a second step (acr "+mfa+")") || !strings.Contains(body, "within the last 600 seconds (max_age)") {
		t.Errorf("stale session with max_age: got %d, want the login page saying what is asked:\n%.2000s", resp.StatusCode, body)
	}
}

// A login that asks for the second step from the start: the user is
// picked, then the code is asked; three wrong codes end the login.
func TestStepUpFromTheLoginPage(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce("frm")
	q := authParams(challenge)
	q.Set("acr_values", mfa)
	txn := e.loginPage(e.browser, q)
	code, txn := codePage(t, e.postForm(url.Values{"txn": {txn}, "user": {"alice"}}), http.StatusOK)
	back := e.redirect(e.postForm(url.Values{"txn": {txn}, "code": {" " + code + " "}})) // spaces around are forgiven
	if _, acr, _ := loginOf(t, e.exchange(back, verifier)["access_token"].(string)); acr != mfa {
		t.Errorf("acr: got %q, want %s", acr, mfa)
	}

	// Another browser, three wrong codes.
	e.browser = e.newBrowser()
	txn = e.loginPage(e.browser, q)
	code, txn = codePage(t, e.postForm(url.Values{"txn": {txn}, "user": {"bob"}}), http.StatusOK)
	wrong := "123456"
	if code == wrong {
		wrong = "654321"
	}
	for i := 1; i < devissuer.MaxCodeTries; i++ {
		_, txn = codePage(t, e.postForm(url.Values{"txn": {txn}, "code": {wrong}}), http.StatusUnprocessableEntity)
	}
	resp := e.postForm(url.Values{"txn": {txn}, "code": {wrong}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Too many wrong codes") {
		t.Fatalf("third wrong code: got %d, want 403 Too many wrong codes:\n%.800s", resp.StatusCode, body)
	}
	if resp := e.postForm(url.Values{"txn": {txn}, "code": {code}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the right code after the third wrong one: got %d, want 400 (the login is over)", resp.StatusCode)
	}
	// No session came of it: prompt=none needs a login.
	q.Set("prompt", "none")
	if back := e.redirect(e.authorize(q)); back.Query().Get("error") != "login_required" {
		t.Errorf("prompt=none after a failed second step: got %s, want login_required", back)
	}
}

// prompt=none answers at once or with an error: login_required for no
// session or one older than max_age, interaction_required for one without
// the second step asked for; prompt=login always shows the login page;
// a bad max_age is invalid_request.
func TestStepUpPromptsAndMaxAge(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce("pmt")
	e.exchange(e.login(authParams(challenge), url.Values{"user": {"alice"}}), verifier)
	e.clock.Advance(10 * time.Minute)

	for _, tc := range []struct {
		name   string
		params map[string]string
		want   string // an error code, "code", or "page"
	}{
		{"no prompt: the session", nil, "code"},
		{"max_age above the session's age", map[string]string{"max_age": "900"}, "code"},
		{"max_age below it", map[string]string{"max_age": "300"}, "page"},
		{"max_age 0", map[string]string{"max_age": "0"}, "page"},
		{"prompt=login", map[string]string{"prompt": "login"}, "page"},
		{"prompt=none, young enough", map[string]string{"prompt": "none", "max_age": "900"}, "code"},
		{"prompt=none, too old", map[string]string{"prompt": "none", "max_age": "300"}, "login_required"},
		{"prompt=none, second step asked", map[string]string{"prompt": "none", "acr_values": mfa}, "interaction_required"},
		{"prompt=none, an acr not offered", map[string]string{"prompt": "none", "acr_values": "urn:other"}, "code"},
		{"max_age negative", map[string]string{"max_age": "-1"}, "invalid_request"},
		{"max_age not a number", map[string]string{"max_age": "1e3"}, "invalid_request"},
		{"max_age empty", map[string]string{"max_age": ""}, "invalid_request"},
		{"max_age with a plus", map[string]string{"max_age": "+60"}, "invalid_request"},
		{"max_age over ten years", map[string]string{"max_age": "999999999999"}, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, challenge := pkce("pmt")
			q := authParams(challenge)
			for k, v := range tc.params {
				q.Set(k, v)
			}
			resp := e.authorize(q)
			switch tc.want {
			case "page":
				if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `data-testid="login-user-alice"`) {
					t.Errorf("got %d, want the login page:\n%.500s", resp.StatusCode, body)
				}
			case "code":
				if back := e.redirect(resp); back.Query().Get("code") == "" {
					t.Errorf("got %s, want a code", back)
				}
			default:
				if back := e.redirect(resp); back.Query().Get("error") != tc.want || back.Query().Get("code") != "" {
					t.Errorf("got %s, want error %s", back, tc.want)
				}
			}
		})
	}
}
