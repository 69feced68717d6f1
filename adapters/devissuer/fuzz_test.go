package devissuer

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fuzz targets' issuer: the default configuration and a confidential
// web client, a fixed clock, and state planted in every fresh server: a
// pending login, a browser session, an authorization code (PKCE) and
// refresh tokens, one live and one already used in the same family.
var fuzzNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	fuzzSession  = "0123456789abcdef0123456789abcdef"
	fuzzCode     = "known-code"
	fuzzRefresh  = "known-refresh"
	fuzzUsed     = "used-refresh"
	fuzzVerifier = "known-verifier-known-verifier-known-verifier"
	fuzzWebCB    = "http://localhost:3000/callback"
)

func fuzzChallenge() string {
	sum := sha256.Sum256([]byte(fuzzVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// fuzzIssuer returns a function that makes a fresh server with the planted
// state (the keys are made once).
func fuzzIssuer(t testing.TB) func() *Server {
	keys, err := OpenKeys(t.TempDir(), func() time.Time { return fuzzNow })
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Clients = append(cfg.Clients, Client{ClientID: "dev-web", ClientSecret: "web-secret", Callbacks: []string{fuzzWebCB},
		WebOrigins: []string{"http://localhost:3000"}})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return func() *Server {
		s, err := NewServer("http://localhost:8081/", cfg, keys, nil, log, func() time.Time { return fuzzNow })
		if err != nil {
			t.Fatal(err)
		}
		spa, _ := cfg.client(DefaultSPAClient)
		alice := identity{Subject: "dev|alice", Name: "Alice"}
		req := &authRequest{client: spa, redirectURI: "http://localhost:5173", responseMode: "query", state: "st",
			scopes: []string{"openid", "offline_access", "read:messages"}, codeChallenge: fuzzChallenge(), browser: fuzzSession}
		until := fuzzNow.Add(time.Minute)
		s.logins.put("known-txn", req, until, fuzzNow)
		s.sessions.put(fuzzSession, &session{who: alice, perms: []string{"read:messages"}, login: Login{Time: fuzzNow}, expires: until}, until, fuzzNow)
		s.codes.put(fuzzCode, &authCode{req: req, who: alice, granted: req.scopes, perms: []string{"read:messages"}, login: Login{Time: fuzzNow}}, until, fuzzNow)
		rt := func(used bool) *refreshToken {
			return &refreshToken{family: "fam", used: used, clientID: DefaultSPAClient, who: alice, scopes: req.scopes, login: Login{Time: fuzzNow}}
		}
		s.refresh.put(hash(fuzzRefresh), rt(false), until, fuzzNow)
		s.refresh.put(hash(fuzzUsed), rt(true), until, fuzzNow)
		return s
	}
}

// issuerState is what the issuer keeps, by kind.
type issuerState struct{ logins, sessions, codes, refresh []string }

func keysOf[V any](e *expiring[V]) []string {
	var keys []string
	for el := e.order.Front(); el != nil; el = el.Next() {
		keys = append(keys, el.Value.(*entry[V]).key)
	}
	return keys
}

func stateOf(s *Server) issuerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return issuerState{keysOf(s.logins), keysOf(s.sessions), keysOf(s.codes), keysOf(s.refresh)}
}

// added returns the keys in after but not in before; removed the reverse.
func added(before, after []string) []string {
	return slices.DeleteFunc(slices.Clone(after), func(k string) bool { return slices.Contains(before, k) })
}

func removed(before, after []string) []string { return added(after, before) }

// FuzzAuthorize sends /authorize arbitrary query strings, with or without
// the planted session's cookie. Properties: no panic and no 5xx; a
// refusal is a 400 page before client_id and redirect_uri are known good,
// after that an OAuth error sent to one of the client's registered
// callbacks (a redirect or a web_message page), with the request's state;
// a parameter the issuer reads given twice (RFC 6749 §3.1) is refused:
// client_id or redirect_uri with a page, others with invalid_request (a
// redirect if response_mode is the one, without a state if state is); a
// refusal changes nothing the issuer keeps; a login page adds exactly one
// pending login, an answer from the session exactly one code, and nothing
// else changes.
//
//	go test -run '^$' -fuzz '^FuzzAuthorize$' -fuzztime 1m ./adapters/devissuer/
func FuzzAuthorize(f *testing.F) {
	newServer := fuzzIssuer(f)
	good := url.Values{
		"client_id": {DefaultSPAClient}, "redirect_uri": {"http://localhost:5173"}, "response_type": {"code"},
		"response_mode": {"query"}, "scope": {"openid profile email read:messages offline_access"},
		"audience": {DefaultAudience}, "state": {"st4te"}, "nonce": {"n0nce"},
		"code_challenge": {fuzzChallenge()}, "code_challenge_method": {"S256"},
	}
	with := func(kv ...string) string {
		q := url.Values{}
		for k, v := range good {
			q[k] = slices.Clone(v)
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "\x00" {
				q.Del(kv[i])
			} else {
				q.Set(kv[i], kv[i+1])
			}
		}
		return q.Encode()
	}
	// The requests of the hardening and flow tests, and more.
	for _, q := range []string{
		with(), with("prompt", "none"), with("prompt", "login"), with("response_mode", "web_message"), with("response_mode", "fragment"),
		with("response_mode", "web_message", "redirect_uri", "http://localhost:3000"), with("client_id", "nobody"), with("client_id", "\x00"),
		with("redirect_uri", "https://evil.example/"), with("redirect_uri", "http://localhost:5173/"), with("response_type", "token"),
		with("audience", "https://other.example"), with("code_challenge", "\x00"), with("code_challenge_method", "plain"),
		with("code_challenge", "short"), with("state", strings.Repeat("s", 3000)), with("nonce", strings.Repeat("n", 3000)),
		with("scope", strings.Repeat("a ", 1500)), with("client_id", "dev-machine"), with("client_id", "dev-web", "redirect_uri", fuzzWebCB, "code_challenge", "\x00"),
		with("state", "a&b=c#d"), "", "%", "client_id=dev-spa&client_id=nobody", "client_id=dev-spa&redirect_uri=http://localhost:5173&redirect_uri=https://evil.example/",
		with() + "&client_id=dev-spa", with() + "&redirect_uri=http://localhost:5173", with() + "&state=other", with() + "&scope=admin",
		with() + "&code_challenge=" + fuzzChallenge(), with() + "&response_mode=query", with("response_mode", "web_message") + "&response_mode=web_message",
		with() + "&prompt=none&prompt=login", with() + "&dpop_jkt=a&dpop_jkt=b", with() + "&nonce=", with() + "&unknown=1&unknown=2",
		with("acr_values", ACRMultiFactor), with("acr_values", ACRMultiFactor, "prompt", "none"), with("acr_values", "urn:other"),
		with("max_age", "0"), with("max_age", "3600"), with("max_age", "-1"), with("max_age", "1e3"), with("max_age", ""),
		with("max_age", "0", "prompt", "none"), with() + "&acr_values=a&acr_values=b", with() + "&max_age=1&max_age=2",
		with("acr_values", strings.Repeat("a", 3000)),
	} {
		f.Add(q, "")
		f.Add(q, "devissuer_session="+fuzzSession)
	}
	f.Add(with(), "devissuer_browser=zz; devissuer_session=nope")
	f.Fuzz(func(t *testing.T, query, cookie string) {
		s := newServer()
		req := httptest.NewRequest("GET", "/authorize", nil)
		req.URL.RawQuery = query
		req.RequestURI = "/authorize?" + query
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		before := stateOf(s)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		after := stateOf(s)
		q, _ := url.ParseQuery(query)
		if q == nil {
			q = url.Values{}
		}
		// What the answer is: a refusal (error) or a code, and where it goes.
		var outcome, target string
		var answer url.Values
		switch {
		case rec.Code == http.StatusBadRequest:
			outcome = "page"
		case rec.Code == http.StatusFound:
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil {
				t.Fatalf("Location %q: %v", rec.Header().Get("Location"), err)
			}
			answer = loc.Query()
			loc.RawQuery = ""
			target = loc.String()
		case rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), `name="txn"`):
			outcome = "login page"
		case rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "authorization_response"):
			target = q.Get("redirect_uri") // posted to its origin only (the page's CSP and targetOrigin)
			answer = url.Values{}
			for _, name := range []string{"error", "code", "state"} {
				if strings.Contains(rec.Body.String(), `"`+name+`":`) {
					answer.Set(name, "?")
				}
			}
		default:
			t.Fatalf("?%s: got %d %s", query, rec.Code, rec.Body)
		}
		// RFC 6749 §3.1: a parameter the issuer reads, given twice.
		twice := ""
		for _, name := range []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
			"audience", "code_challenge", "code_challenge_method", "dpop_jkt", "prompt", "acr_values", "max_age"} {
			if len(q[name]) > 1 && twice == "" {
				twice = name
			}
		}
		if (len(q["client_id"]) > 1 || len(q["redirect_uri"]) > 1) && outcome != "page" {
			t.Fatalf("?%s: client_id or redirect_uri given twice: got %d, want a 400 page", query, rec.Code)
		}
		if twice != "" && outcome == "login page" {
			t.Fatalf("?%s: %s given twice, but a login page", query, twice)
		}
		if answer != nil {
			cl, ok := s.cfg.client(q.Get("client_id"))
			if !ok || !slices.Contains(cl.Callbacks, target) || target != q.Get("redirect_uri") {
				t.Fatalf("?%s: an answer sent to %q, not the request's registered callback", query, target)
			}
			switch st := q.Get("state"); {
			case len(q["state"]) > 1 && answer.Has("state"):
				t.Fatalf("?%s: state given twice, but the answer has one", query)
			case len(q["state"]) == 1 && st != "" && answer.Get("state") == "":
				t.Fatalf("?%s: the answer lacks the state", query)
			}
			if len(q["response_mode"]) > 1 && rec.Code != http.StatusFound {
				t.Fatalf("?%s: response_mode given twice: got %d, want the error in a redirect", query, rec.Code)
			}
			if twice != "" && (answer.Has("code") || answer.Get("error") != "invalid_request" && answer.Get("error") != "?") {
				t.Fatalf("?%s: %s given twice: got %v, want invalid_request", query, twice, answer)
			}
			switch {
			case answer.Has("error") && !answer.Has("code"):
				outcome = "error"
				if e := answer.Get("error"); e != "?" && !slices.Contains([]string{"invalid_request", "unsupported_response_type",
					"unauthorized_client", "access_denied", "login_required", "interaction_required"}, e) {
					t.Fatalf("?%s: error %q", query, e)
				}
			case answer.Has("code") && !answer.Has("error"):
				outcome = "code"
			default:
				t.Fatalf("?%s: answer %v is neither a code nor an error", query, answer)
			}
		}
		want := issuerState{before.logins, before.sessions, before.codes, before.refresh}
		switch outcome {
		case "login page":
			if n := added(before.logins, after.logins); len(n) != 1 || len(removed(before.logins, after.logins)) != 0 {
				t.Fatalf("?%s: a login page, but pending logins went from %v to %v", query, before.logins, after.logins)
			}
			want.logins = after.logins
		case "code":
			if n := added(before.codes, after.codes); len(n) != 1 || len(removed(before.codes, after.codes)) != 0 {
				t.Fatalf("?%s: a code, but codes went from %v to %v", query, before.codes, after.codes)
			}
			want.codes = after.codes
		}
		if !equalState(after, want) {
			t.Fatalf("?%s: %s (%d), but the issuer's state changed:\nbefore %+v\nafter  %+v", query, outcome, rec.Code, before, after)
		}
	})
}

func equalState(a, b issuerState) bool {
	return slices.Equal(a.logins, b.logins) && slices.Equal(a.sessions, b.sessions) && slices.Equal(a.codes, b.codes) && slices.Equal(a.refresh, b.refresh)
}

// FuzzToken posts /oauth/token arbitrary bodies, content types and Basic
// credentials. Properties: no panic and no 5xx; a refusal is 400, 401 or
// 403 with an RFC 6749 §5.2 JSON error; it adds nothing the issuer keeps,
// and takes away only what the request itself presented — the planted
// code (single use, whatever happens) or, for the used refresh token, its
// family (reuse detection); a success adds at most one refresh token. A
// JSON body with anything but white space after its object, and a
// parameter the issuer reads given twice (RFC 6749 §3.1; in JSON, a member
// named twice), are 400 invalid_request saying so, and change nothing.
//
//	go test -run '^$' -fuzz '^FuzzToken$' -fuzztime 1m ./adapters/devissuer/
func FuzzToken(f *testing.F) {
	newServer := fuzzIssuer(f)
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	codeForm := []string{"grant_type", "authorization_code", "client_id", DefaultSPAClient, "code", fuzzCode,
		"redirect_uri", "http://localhost:5173", "code_verifier", fuzzVerifier}
	js := func(kv ...string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	const formType, jsonType = "application/x-www-form-urlencoded", "application/json"
	for _, s := range []struct{ body, ctype, basic string }{
		{form(codeForm...), formType, ""},
		{js(codeForm...), jsonType, ""},
		{form(append(slices.Clone(codeForm[:8]), "code_verifier", "wrong-verifier-wrong-verifier-wrong-verifier")...), formType, ""},
		{form(append(slices.Clone(codeForm[:2]), "client_id", "dev-web", "code", fuzzCode)...), formType, ""},
		{form("grant_type", "refresh_token", "client_id", DefaultSPAClient, "refresh_token", fuzzRefresh), formType, ""},
		{form("grant_type", "refresh_token", "client_id", DefaultSPAClient, "refresh_token", fuzzRefresh, "scope", "openid admin"), formType, ""},
		{form("grant_type", "refresh_token", "client_id", DefaultSPAClient, "refresh_token", fuzzUsed), formType, ""},
		{form("grant_type", "refresh_token", "client_id", "dev-web", "refresh_token", fuzzRefresh), formType, ""},
		{form("grant_type", "client_credentials", "client_id", DefaultMachine, "client_secret", DefaultMachineToken), formType, ""},
		{form("grant_type", "client_credentials", "audience", "https://other.example"), formType, DefaultMachine + ":" + DefaultMachineToken},
		{form("grant_type", "client_credentials", "client_id", DefaultMachine, "client_secret", "wrong"), formType, ""},
		{form("grant_type", "client_credentials", "client_id", DefaultSPAClient), formType, ""},
		{form("grant_type", "password", "username", "alice"), formType, ""},
		{form(), formType, ""}, {"", jsonType, ""}, {"null", jsonType, ""}, {`{"grant_type":1}`, jsonType, ""}, {`[]`, jsonType, ""},
		{`{"grant_type":"client_credentials"} trailing`, jsonType, DefaultMachine + ":" + DefaultMachineToken},
		{form(codeForm...), "text/plain", ""}, {"%zz", formType, ""}, {strings.Repeat("a", 70000), formType, ""},
		{form("grant_type", "authorization_code", "grant_type", "client_credentials"), formType, ""},
		{form(append(slices.Clone(codeForm), "code", fuzzCode)...), formType, ""},
		{form(append(slices.Clone(codeForm), "code_verifier", "x")...), formType, ""},
		{form(append(slices.Clone(codeForm), "unknown", "1", "unknown", "2")...), formType, ""},
		{form("grant_type", "refresh_token", "client_id", DefaultSPAClient, "refresh_token", fuzzUsed, "refresh_token", fuzzRefresh), formType, ""},
		{`{"grant_type":"client_credentials","grant_type":"client_credentials"}`, jsonType, DefaultMachine + ":" + DefaultMachineToken},
		{`{"grant_type":"client_credentials","scop\u0065":"a","scope":"b"}`, jsonType, DefaultMachine + ":" + DefaultMachineToken},
		{js(codeForm...) + ` {}`, jsonType, ""}, {js(codeForm...) + " \n\t ", jsonType, ""}, {js(codeForm...) + "\x00", jsonType, ""},
	} {
		f.Add([]byte(s.body), s.ctype, s.basic)
	}
	errorCodes := []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope", "access_denied"}
	f.Fuzz(func(t *testing.T, body []byte, contentType, basic string) {
		s := newServer()
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(string(body)))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if user, pass, ok := strings.Cut(basic, ":"); ok {
			req.SetBasicAuth(user, pass)
		}
		before := stateOf(s)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		after := stateOf(s)
		wantDesc := tokenOracle(body, contentType)

		if !slices.Equal(after.logins, before.logins) || !slices.Equal(after.sessions, before.sessions) {
			t.Fatalf("%q: logins or sessions changed: %+v -> %+v", body, before, after)
		}
		if n := added(before.codes, after.codes); len(n) > 0 {
			t.Fatalf("%q: codes added: %v", body, n)
		}
		if gone := removed(before.codes, after.codes); len(gone) > 0 && (len(gone) > 1 || gone[0] != fuzzCode || !strings.Contains(string(body), fuzzCode)) {
			t.Fatalf("%q: codes removed that the request did not present: %v", body, gone)
		}
		if gone := removed(before.refresh, after.refresh); len(gone) > 0 && !strings.Contains(string(body), fuzzUsed) {
			t.Fatalf("%q: refresh tokens removed, the used one not presented: %v", body, gone)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%q: Content-Type %q, Cache-Control %q", body, ct, rec.Header().Get("Cache-Control"))
		}
		var raw map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
			t.Fatalf("%q: answer %s: %v", body, rec.Body, err)
		}
		errCode, _ := raw["error"].(string)
		desc, _ := raw["error_description"].(string)
		access, _ := raw["access_token"].(string)
		tokenType, _ := raw["token_type"].(string)
		if wantDesc != nil {
			if rec.Code != http.StatusBadRequest || errCode != "invalid_request" || !slices.Contains(wantDesc, desc) {
				t.Fatalf("%q as %q: got %d %s, want 400 invalid_request, one of %q", body, contentType, rec.Code, rec.Body, wantDesc)
			}
			if !equalState(after, before) {
				t.Fatalf("%q: refused, but the issuer's state changed:\nbefore %+v\nafter  %+v", body, before, after)
			}
		}
		switch rec.Code {
		case http.StatusOK:
			if access == "" || tokenType != "Bearer" || errCode != "" {
				t.Fatalf("%q: 200 %s", body, rec.Body)
			}
			if n := added(before.refresh, after.refresh); len(n) > 1 {
				t.Fatalf("%q: %d refresh tokens added", body, len(n))
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			if !slices.Contains(errorCodes, errCode) || desc == "" || access != "" {
				t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
			}
			if n := added(before.refresh, after.refresh); len(n) > 0 {
				t.Fatalf("%q: refused, but refresh tokens added: %v", body, n)
			}
		default:
			t.Fatalf("%q as %q: got %d %s", body, contentType, rec.Code, rec.Body)
		}
	})
}

// tokenOracle says, by its own reading of a token request's body, whether
// /oauth/token must refuse it for the rules of FuzzToken's last sentence:
// the error descriptions it may answer (one per parameter given twice), or
// nil.
func tokenOracle(body []byte, contentType string) []string {
	if len(body) > 64<<10 { // refused unread
		return nil
	}
	counts := map[string]int{}
	switch mt, _, _ := mime.ParseMediaType(contentType); mt {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil
		}
		for name, vs := range v {
			counts[name] = len(vs)
		}
	case "application/json":
		dec := json.NewDecoder(strings.NewReader(string(body)))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return nil
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil
			}
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil
			}
			if _, ok := v.(string); !ok {
				return nil
			}
			counts[tok.(string)]++
		}
		if _, err := dec.Token(); err != nil {
			return nil
		}
		if rest := string(body[dec.InputOffset():]); strings.Trim(rest, " \t\r\n") != "" {
			return []string{"the body has data after its JSON object"}
		}
	default:
		return nil
	}
	var descs []string
	for _, name := range []string{"grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier", "refresh_token", "scope", "audience"} {
		if counts[name] > 1 {
			descs = append(descs, name+" is given more than once")
		}
	}
	return descs
}
