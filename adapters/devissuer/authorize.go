package devissuer

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// oidcScopes are granted to anyone who asks.
var oidcScopes = []string{"openid", "profile", "email", "offline_access"}

// The syntax of PKCE values (RFC 7636 §4.1) and of the random IDs this
// issuer makes. Compiled on first use: the bounded repetition makes a
// large program, which start-up need not pay for outside -dev.
var (
	pkceValue     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`) })
	randomIDValue = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{32}$`) })
)

// thumbprintValue is an RFC 7638 SHA-256 thumbprint in base64url (dpop_jkt).
var thumbprintValue = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// MaxParamLength bounds the /authorize parameters the issuer keeps and
// echoes (state, nonce, scope): what SDKs send is far shorter (auth0-spa-js
// sends 56 characters), and a web page must not be able to make the
// developer's browser park megabytes here.
const MaxParamLength = 2048

// authorizeParams are the /authorize parameters the issuer reads. RFC 6749
// §3.1: request parameters must not be included more than once, so none of
// these may be repeated (others, which the issuer ignores, may be).
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
	"audience", "code_challenge", "code_challenge_method", "dpop_jkt", "prompt", "acr_values", "max_age"}

// maxMaxAge bounds max_age: ten years, more than any session lives.
const maxMaxAge = 10 * 365 * 24 * 3600

// MaxCodeTries is how many wrong one-time codes a login may take before
// it has to start again.
const MaxCodeTries = 3

// repeated returns the first of names given more than once in q, or "".
func repeated(q url.Values, names []string) string {
	for _, name := range names {
		if len(q[name]) > 1 {
			return name
		}
	}
	return ""
}

// authorize checks an authorization request (code flow with PKCE) and shows
// the login page, or answers at once for prompt=none or a live session.
// acr_values naming ACRMultiFactor adds the second step (a one-time code)
// to the login, or asks it alone of a session that lacks it; max_age
// (or prompt=login) makes an older session log in again.
//
// Until client_id and redirect_uri are known good, errors are shown on a
// page; after that they go back to the client as OAuth errors.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, name := range []string{"state", "nonce", "scope", "acr_values"} {
		if len(q.Get(name)) > MaxParamLength {
			page(w, http.StatusBadRequest, "Request too large",
				fmt.Sprintf("%s is %d bytes long; the development issuer takes at most %d.", name, len(q.Get(name)), MaxParamLength))
			return
		}
	}
	if name := repeated(q, []string{"client_id", "redirect_uri"}); name != "" {
		page(w, http.StatusBadRequest, "Repeated parameter",
			name+" is given more than once; an authorization request names each parameter once.")
		return
	}
	client, ok := s.cfg.client(q.Get("client_id"))
	if !ok {
		page(w, http.StatusBadRequest, "Unknown client", "client_id "+clip(q.Get("client_id"))+" is not in config.json.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !slices.Contains(client.Callbacks, redirectURI) {
		page(w, http.StatusBadRequest, "Callback URL mismatch",
			"redirect_uri "+clip(redirectURI)+" is not one of the client's callbacks in config.json.")
		return
	}
	req := &authRequest{
		client:       client,
		redirectURI:  redirectURI,
		responseMode: q.Get("response_mode"),
		state:        q.Get("state"),
		nonce:        q.Get("nonce"),
		scopes:       strings.Fields(q.Get("scope")),
	}
	if req.responseMode == "" || len(q["response_mode"]) > 1 {
		req.responseMode = "query"
	}
	if len(q["state"]) > 1 {
		req.state = "" // which one to send back cannot be told
	}
	fail := func(code, desc string) {
		s.respond(w, r, req, url.Values{"error": {code}, "error_description": {desc}})
	}
	switch {
	case req.responseMode != "query" && req.responseMode != "web_message":
		req.responseMode = "query"
		fail("invalid_request", "response_mode must be query or web_message")
		return
	case req.responseMode == "web_message" && !client.webOrigin(origin(redirectURI)):
		req.responseMode = "query"
		fail("invalid_request", "web_message needs the redirect_uri's origin among the client's web_origins")
		return
	case repeated(q, authorizeParams) != "":
		fail("invalid_request", repeated(q, authorizeParams)+" is given more than once")
		return
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
		return
	case !client.allows("authorization_code"):
		fail("unauthorized_client", "this client may not use the authorization code flow")
		return
	case q.Get("audience") != "" && q.Get("audience") != s.cfg.Audience:
		fail("access_denied", "unknown audience "+clip(q.Get("audience")))
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && client.ClientSecret == "":
		fail("invalid_request", "code_challenge is required (PKCE) for public clients")
		return
	case challenge != "" && method != "S256":
		fail("invalid_request", "code_challenge_method must be S256; plain is not allowed")
		return
	case challenge != "" && !pkceValue().MatchString(challenge):
		fail("invalid_request", "code_challenge is not 43-128 base64url characters")
		return
	}
	req.codeChallenge = challenge
	// RFC 9449 §10: a client may bind the code to its DPoP key up front; the
	// token request must then prove that key.
	if jkt := q.Get("dpop_jkt"); jkt != "" {
		if !thumbprintValue.MatchString(jkt) {
			fail("invalid_request", "dpop_jkt is not a base64url SHA-256 thumbprint (43 characters)")
			return
		}
		if s.proofs == nil {
			fail("invalid_request", "dpop_jkt: this issuer was started without DPoP support")
			return
		}
		req.dpopJKT = jkt
	}

	req.acrValues = strings.Fields(q.Get("acr_values"))
	if v := q.Get("max_age"); q.Has("max_age") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxMaxAge || strings.TrimLeft(v, "0123456789") != "" {
			fail("invalid_request", "max_age must be a number of seconds")
			return
		}
		req.maxAge, req.hasMaxAge = time.Duration(n)*time.Second, true
	}

	prompt := strings.Fields(q.Get("prompt"))
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		// OpenID Connect Core §3.1.2.1: none with another value is an error,
		// not a silent answer that skips the login the other one asks for.
		fail("invalid_request", "prompt=none cannot be combined with other values")
		return
	}
	sess := s.currentSession(r)
	// fresh: a session young enough for max_age; strong: one with the
	// second step, if acr_values asks for it.
	fresh := sess != nil && (!req.hasMaxAge || s.now().Sub(sess.login.Time) <= req.maxAge)
	strong := sess != nil && (!req.wantsSecondStep() || sess.login.ACR == ACRMultiFactor)
	switch {
	case slices.Contains(prompt, "none") && !fresh:
		fail("login_required", "Login required")
	case slices.Contains(prompt, "none") && !strong:
		fail("interaction_required", "the application asks for a second step, which needs the login page")
	case slices.Contains(prompt, "none"), fresh && strong && !slices.Contains(prompt, "login"):
		s.approve(w, r, req, sess)
	case fresh && !slices.Contains(prompt, "login"):
		// Logged in with one step: the second, for the same user.
		s.askCode(w, r, req, &session{who: sess.who, perms: sess.perms, ticked: sess.ticked}, "")
	default:
		s.loginPage(w, req, s.pend(w, r, req))
	}
}

// wantsSecondStep reports whether the request's acr_values ask for the
// login with the one-time code.
func (req *authRequest) wantsSecondStep() bool { return slices.Contains(req.acrValues, ACRMultiFactor) }

// pend keeps req for the login page's (or the code page's) form and
// returns the transaction the form posts back. The form may be posted
// only by the browser it was shown to: login checks this cookie
// (SameSite=Lax, so no other site's POST carries it) against the one
// recorded here.
func (s *Server) pend(w http.ResponseWriter, r *http.Request, req *authRequest) string {
	req.browser = browserID(r)
	if req.browser == "" {
		req.browser = randomID()
	}
	http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: req.browser, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	txn := randomID()
	s.mu.Lock()
	if s.logins.put(txn, req, s.now().Add(LoginTTL), s.now()) {
		s.evicted("pending logins", MaxPendingLogins)
	}
	s.mu.Unlock()
	return txn
}

// askCode shows the second step for who (the first step's outcome, not a
// session yet): a one-time code, shown on the page as an authenticator
// app would show it, to type in. problem, if any, says why it is asked
// again.
func (s *Server) askCode(w http.ResponseWriter, r *http.Request, req *authRequest, who *session, problem string) {
	if req.second == nil {
		req.second = &secondStep{sess: who, code: oneTimeCode()}
	}
	s.codePage(w, req, s.pend(w, r, req), problem)
}

// oneTimeCode is six random digits.
func oneTimeCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// browserID returns r's browserCookie, if it has a well-formed one.
func browserID(r *http.Request) string {
	c, err := r.Cookie(browserCookie)
	if err != nil || !randomIDValue().MatchString(c.Value) {
		return ""
	}
	return c.Value
}

// crossOrigin reports whether a POST came from a page of another origin:
// browsers say so with Sec-Fetch-Site, or with an Origin other than this
// issuer's (as r reached it). Requests naming neither (curl) pass.
func crossOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return true
	}
	origin := r.Header.Get("Origin")
	return origin != "" && origin != "http://"+r.Host
}

// login takes the choice made on the login page.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if crossOrigin(r) {
		page(w, http.StatusForbidden, "Cross-site login refused",
			"Another site tried to log this browser in. Start the login from the application.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		page(w, http.StatusBadRequest, "Bad form", "The login form could not be read.")
		return
	}
	s.mu.Lock()
	req, ok := s.logins.take(r.PostForm.Get("txn"), s.now())
	s.mu.Unlock()
	if !ok {
		page(w, http.StatusBadRequest, "Login expired", "This login page is stale. Start the login from the application again.")
		return
	}
	if browserID(r) != req.browser {
		page(w, http.StatusForbidden, "Login refused",
			"This login was started in another browser, or the browser did not keep the issuer's cookie. Start the login from the application again.")
		return
	}
	if r.PostForm.Get("deny") != "" {
		s.respond(w, r, req, url.Values{"error": {"access_denied"}, "error_description": {"the user cancelled the login"}})
		return
	}
	if req.second != nil {
		s.checkCode(w, r, req)
		return
	}
	sess := &session{login: Login{Time: s.now(), AMR: amrOneStep}}
	if id := r.PostForm.Get("user"); id != "" {
		u, ok := s.cfg.User(id)
		if !ok {
			page(w, http.StatusBadRequest, "Unknown user", "No user "+id+" in config.json.")
			return
		}
		sess.who = identity{Subject: u.Subject, Name: u.Name, Email: u.Email}
		sess.perms = slices.Clone(u.Scopes)
		if sess.perms == nil {
			sess.perms = []string{}
		}
	} else {
		sub := strings.TrimSpace(r.PostForm.Get("subject"))
		if sub == "" || len(sub) > 200 {
			page(w, http.StatusBadRequest, "Subject needed", "Type a subject (at most 200 characters) or pick a user.")
			return
		}
		sess.who = identity{Subject: sub, Name: sub}
		// Only scopes the login page offered can be ticked.
		sess.ticked = []string{}
		for _, sc := range r.PostForm["scope"] {
			if slices.Contains(req.scopes, sc) && !slices.Contains(sess.ticked, sc) {
				sess.ticked = append(sess.ticked, sc)
			}
		}
	}
	if req.wantsSecondStep() {
		s.askCode(w, r, req, sess, "")
		return
	}
	s.startSession(w, sess)
	s.approve(w, r, req, sess)
}

// checkCode takes the second step's form: the right code logs the user
// in with ACRMultiFactor, now; a wrong one asks again, up to
// MaxCodeTries in all.
func (s *Server) checkCode(w http.ResponseWriter, r *http.Request, req *authRequest) {
	st := req.second
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(r.PostForm.Get("code"))), []byte(st.code)) != 1 {
		if st.tries++; st.tries >= MaxCodeTries {
			page(w, http.StatusForbidden, "Too many wrong codes",
				fmt.Sprintf("%d wrong one-time codes. Start the login from the application again.", st.tries))
			return
		}
		s.askCode(w, r, req, st.sess, "That code is not the one shown: type the code above.")
		return
	}
	sess := &session{who: st.sess.who, perms: st.sess.perms, ticked: st.sess.ticked,
		login: Login{Time: s.now(), ACR: ACRMultiFactor, AMR: amrTwoSteps}}
	s.startSession(w, sess)
	s.approve(w, r, req, sess)
}

// startSession keeps sess as the browser's session (its cookie), from now
// for SessionTTL.
func (s *Server) startSession(w http.ResponseWriter, sess *session) {
	sess.expires = s.now().Add(SessionTTL)
	sid := randomID()
	s.mu.Lock()
	if s.sessions.put(sid, sess, sess.expires, s.now()) {
		s.evicted("sessions", MaxSessions)
	}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Expires: sess.expires})
}

func (s *Server) currentSession(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions.get(c.Value, s.now())
	if !ok {
		return nil
	}
	return sess
}

// approve issues an authorization code for the session's identity.
func (s *Server) approve(w http.ResponseWriter, r *http.Request, req *authRequest, sess *session) {
	granted, perms := grantFor(req.scopes, sess)
	code := randomToken()
	s.mu.Lock()
	if s.codes.put(code, &authCode{req: req, who: sess.who, granted: granted, perms: perms, login: sess.login},
		s.now().Add(CodeTTL), s.now()) {
		s.evicted("authorization codes", MaxCodes)
	}
	s.mu.Unlock()
	s.respond(w, r, req, url.Values{"code": {code}})
}

// grantFor returns the scopes granted (OIDC scopes asked for, and API
// scopes asked for that the user holds) and the user's permissions.
func grantFor(requested []string, sess *session) (scopes, perms []string) {
	allowed := sess.perms
	if allowed == nil { // a typed-in subject: what was ticked
		allowed = sess.ticked
	}
	for _, sc := range requested {
		if (slices.Contains(oidcScopes, sc) || slices.Contains(allowed, sc)) && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	return scopes, slices.Clone(allowed)
}

// respond sends an authorization response (code or error) to the client
// the way it asked: a redirect with a query string, or a web_message page.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, req *authRequest, params url.Values) {
	if req.state != "" {
		params.Set("state", req.state)
	}
	if req.responseMode == "web_message" {
		resp := map[string]string{}
		for k := range params {
			resp[k] = params.Get(k)
		}
		nonce := randomToken()
		target := origin(req.redirectURI)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; frame-ancestors "+target)
		webMessage().Execute(w, map[string]any{"Nonce": nonce, "Origin": target, "Response": resp})
		return
	}
	u, _ := url.Parse(req.redirectURI)
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// clip shortens text from a request before a page shows it.
func clip(s string) string {
	if len(s) > 200 {
		return strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

func origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) loginPage(w http.ResponseWriter, req *authRequest, txn string) {
	type userRow struct {
		User
		Grants []string
	}
	var users []userRow
	for _, u := range s.cfg.Users {
		g, _ := grantFor(req.scopes, &session{perms: append([]string{}, u.Scopes...)})
		users = append(users, userRow{u, g})
	}
	var apiScopes []string
	for _, sc := range req.scopes {
		if !slices.Contains(oidcScopes, sc) {
			apiScopes = append(apiScopes, sc)
		}
	}
	name := req.formHeaders(w)
	loginTmpl().Execute(w, map[string]any{
		"Client": name, "Scopes": req.scopes, "APIScopes": apiScopes, "Audience": s.cfg.Audience,
		"Users": users, "Txn": txn, "Issuer": s.minter.Issuer, "Asks": req.asks(),
	})
}

// formHeaders sets the headers of a page with a form of the login (never
// cached, never framed) and returns the client's name to show on it.
func (req *authRequest) formHeaders(w http.ResponseWriter) (clientName string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	if req.client.Name != "" {
		return req.client.Name
	}
	return req.client.ClientID
}

// asks says, for the login page, what the request asks of the login
// beyond the usual (acr_values, max_age), one sentence each.
func (req *authRequest) asks() []string {
	var out []string
	if req.wantsSecondStep() {
		out = append(out, "a second step (acr "+ACRMultiFactor+"): after you pick a user, type the one-time code the next page shows.")
	}
	for _, v := range req.acrValues {
		if v != ACRMultiFactor {
			out = append(out, "acr "+clip(v)+", which this issuer does not offer (it offers "+ACRMultiFactor+"): the login goes on without it.")
		}
	}
	if req.hasMaxAge {
		out = append(out, fmt.Sprintf("a login within the last %d seconds (max_age): an older one does not count.", int64(req.maxAge/time.Second)))
	}
	return out
}

// codePage shows the second step: the one-time code and a field to type
// it in. A development issuer has no authenticator app, so the page
// shows the code itself; typing it in stands for the second factor.
func (s *Server) codePage(w http.ResponseWriter, req *authRequest, txn, problem string) {
	name := req.formHeaders(w)
	status := http.StatusOK
	if problem != "" {
		status = http.StatusUnprocessableEntity
	}
	w.WriteHeader(status)
	codeTmpl().Execute(w, map[string]any{
		"Client": name, "User": req.second.sess.who.Name, "Subject": req.second.sess.who.Subject,
		"Code": req.second.code, "Txn": txn, "Issuer": s.minter.Issuer, "ACR": ACRMultiFactor,
		"Problem": problem, "TriesLeft": MaxCodeTries - req.second.tries,
	})
}

// page shows a short message.
func page(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	messageTmpl().Execute(w, map[string]string{"Title": title, "Message": msg})
}

const style = `<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f6;color:#1d1d1f}
.banner{background:#b3261e;color:#fff;padding:.6em 1em;font-weight:600}
main{max-width:34em;margin:2em auto;background:#fff;padding:1.5em 2em;border-radius:8px;box-shadow:0 1px 4px #0002}
button{display:block;width:100%;margin:.4em 0;padding:.7em;font-size:1em;border:1px solid #999;border-radius:6px;background:#fff;cursor:pointer;text-align:left}
button:hover{background:#eef}
small{color:#555}
code{background:#eee;padding:0 .3em;border-radius:3px}
input[type=text]{width:100%;padding:.5em;font-size:1em;box-sizing:border-box}
.code{font-family:monospace;font-size:1.6em;letter-spacing:.2em}
fieldset{border:none;padding:0;margin:.5em 0}
</style>`

// The pages are parsed on first use, not at start-up, which the API pays
// for in every mode (the package is linked in for -dev).
var loginTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Log in — development issuer</title>` + style + `</head><body>
<div class="banner" role="alert">Development issuer ({{.Issuer}}) — not for production: anyone can log in as anyone.</div>
<main>
<h1>Log in to {{.Client}}</h1>
<p>Requested scopes: {{range .Scopes}}<code>{{.}}</code> {{else}}none{{end}}<br><small>API: {{.Audience}}</small></p>
{{if .Asks}}<div data-testid="login-asks"><p>{{.Client}} asks for</p><ul>{{range .Asks}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
<form method="post" action="login">
<input type="hidden" name="txn" value="{{.Txn}}">
{{range .Users}}<button type="submit" name="user" value="{{.ID}}" data-testid="login-user-{{.ID}}">{{.Name}} <small>{{.Subject}} · grants {{range .Grants}}{{.}} {{else}}nothing{{end}}</small></button>
{{end}}</form>
<form method="post" action="login">
<input type="hidden" name="txn" value="{{.Txn}}">
<p><label>Or log in as any subject<br><input type="text" name="subject" data-testid="login-subject" required maxlength="200" placeholder="dev|someone"></label></p>
{{if .APIScopes}}<fieldset><legend>granting</legend>{{range .APIScopes}}<label><input type="checkbox" name="scope" value="{{.}}" checked> {{.}}</label> {{end}}</fieldset>{{end}}
<button type="submit" data-testid="login-custom">Log in as this subject</button>
</form>
<form method="post" action="login"><input type="hidden" name="txn" value="{{.Txn}}">
<button type="submit" name="deny" value="1" data-testid="login-deny">Cancel</button></form>
</main></body></html>`))
})

var codeTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("code").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Second step — development issuer</title>` + style + `</head><body>
<div class="banner" role="alert">Development issuer ({{.Issuer}}) — not for production: the one-time code is shown on this page.</div>
<main>
<h1>Second step</h1>
<p>{{.Client}} asks for a stronger login (acr <code>{{.ACR}}</code>) for <b>{{.User}}</b> <small>{{.Subject}}</small>.</p>
<p>Your one-time code (an authenticator app would show it): <b class="code" data-testid="second-step-code">{{.Code}}</b></p>
{{if .Problem}}<p role="alert" data-testid="second-step-problem">{{.Problem}} {{.TriesLeft}} tries left.</p>{{end}}
<form method="post" action="login">
<input type="hidden" name="txn" value="{{.Txn}}">
<p><label>One-time code<br><input type="text" name="code" data-testid="second-step-input" required inputmode="numeric" autocomplete="one-time-code" maxlength="6" pattern="[0-9]{6}"></label></p>
<button type="submit" data-testid="second-step-submit">Continue</button>
</form>
<form method="post" action="login"><input type="hidden" name="txn" value="{{.Txn}}">
<button type="submit" name="deny" value="1" data-testid="login-deny">Cancel</button></form>
</main></body></html>`))
})

var messageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("message").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} — development issuer</title>` + style + `</head><body>
<div class="banner" role="alert">Development issuer — not for production.</div>
<main><h1>{{.Title}}</h1><p>{{.Message}}</p></main></body></html>`))
})

// webMessage answers response_mode=web_message as Auth0 does: the page in
// the hidden iframe posts {type: "authorization_response", response} to
// its parent (or opener), only to the redirect_uri's origin.
var webMessage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("webmessage").Parse(`<!doctype html>
<html><head><title>Authorization Response</title></head><body>
<script nonce="{{.Nonce}}">
(function () {
  var target = window.opener || window.parent;
  target.postMessage({type: "authorization_response", response: {{.Response}}}, {{.Origin}});
})();
</script></body></html>`))
})
