package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/httpapi"
)

// distDir is a built SPA: an index.html and a hashed asset.
func distDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dist")
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"index.html":               "<!doctype html><div id=\"root\"></div>\n",
		"assets/index-AbCd1234.js": "console.log(1)\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The SPA's settings: from SPA_* or derived from the API's own, each
// checked against what the API accepts; every mistake stops start-up with
// one line naming the variable.
func TestSPASettings(t *testing.T) {
	dist := distDir(t)
	empty := t.TempDir()
	file := filepath.Join(empty, "file")
	os.WriteFile(file, nil, 0o644)
	base := map[string]string{"ISSUER_BASE_URL": "https://tenant.auth0.com/", "AUDIENCE": "https://api.example.com"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	spa := func(kv ...string) map[string]string {
		return with(append([]string{"SPA_DIR", dist, "SPA_CLIENT_ID", "abc123"}, kv...)...)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want httpapi.SPASettings // when err is ""
		err  string
	}{
		{"no SPA", with(), httpapi.SPASettings{}, ""},
		{"the API's issuer and audience", spa(),
			httpapi.SPASettings{Issuer: "https://tenant.auth0.com/", ClientID: "abc123", Audience: "https://api.example.com"}, ""},
		{"the API's Auth0 domain", spa("ISSUER_BASE_URL", "", "AUTH0_DOMAIN", "tenant.eu.auth0.com"),
			httpapi.SPASettings{Issuer: "https://tenant.eu.auth0.com/", ClientID: "abc123", Audience: "https://api.example.com"}, ""},
		{"one of several issuers and audiences", spa("ISSUER_BASE_URL", "https://a.auth0.com/,https://b.auth0.com/", "AUDIENCE", "https://x,https://y",
			"SPA_ISSUER", "https://B.auth0.com", "SPA_AUDIENCE", "https://y", "SPA_DPOP", "true"),
			httpapi.SPASettings{Issuer: "https://B.auth0.com", ClientID: "abc123", Audience: "https://y", DPoP: true}, ""},
		{"DPoP required", spa("DPOP_MODE", "required"),
			httpapi.SPASettings{Issuer: "https://tenant.auth0.com/", ClientID: "abc123", Audience: "https://api.example.com", DPoP: true}, ""},
		{"DPoP required, SPA_DPOP=1", spa("DPOP_MODE", "required", "SPA_DPOP", "1"),
			httpapi.SPASettings{Issuer: "https://tenant.auth0.com/", ClientID: "abc123", Audience: "https://api.example.com", DPoP: true}, ""},

		{"SPA_CLIENT_ID without SPA_DIR", with("SPA_CLIENT_ID", "abc123"), httpapi.SPASettings{},
			"SPA_CLIENT_ID is set, but SPA_DIR is not (the API serves no SPA); set SPA_DIR or unset SPA_CLIENT_ID"},
		{"SPA_DPOP without SPA_DIR", with("SPA_DPOP", "true"), httpapi.SPASettings{},
			"SPA_DPOP is set, but SPA_DIR is not (the API serves no SPA); set SPA_DIR or unset SPA_DPOP"},
		{"no client ID", with("SPA_DIR", dist), httpapi.SPASettings{},
			"SPA_CLIENT_ID is required with SPA_DIR: the client ID of the SPA's application at the identity provider (Auth0 dashboard > Applications)"},
		{"a missing directory", spa("SPA_DIR", filepath.Join(empty, "nope")), httpapi.SPASettings{},
			"SPA_DIR: " + filepath.Join(empty, "nope") + ": no such directory (build the SPA into it, e.g. cd web && npm run build, for web/dist)"},
		{"an empty directory", spa("SPA_DIR", empty), httpapi.SPASettings{},
			"SPA_DIR: " + empty + " has no index.html: is it a built SPA? (e.g. cd web && npm run build, for web/dist)"},
		{"a file", spa("SPA_DIR", file), httpapi.SPASettings{}, "SPA_DIR: " + file + " is not a directory"},
		{"an issuer the API does not trust", spa("SPA_ISSUER", "https://other.auth0.com/"), httpapi.SPASettings{},
			`SPA_ISSUER: "https://other.auth0.com/" is not an issuer the API trusts (https://tenant.auth0.com/): its tokens would be refused`},
		{"an issuer over http", spa("SPA_ISSUER", "http://tenant.auth0.com/"), httpapi.SPASettings{},
			`SPA_ISSUER: "http://tenant.auth0.com/": https is required unless the host is localhost or a loopback address`},
		{"an issuer without a scheme", spa("SPA_ISSUER", "tenant.auth0.com"), httpapi.SPASettings{},
			`SPA_ISSUER: "tenant.auth0.com" is not an issuer URL like https://TENANT.auth0.com/`},
		{"several issuers", spa("ISSUER_BASE_URL", "https://a.auth0.com/,https://b.auth0.com/"), httpapi.SPASettings{},
			"SPA_ISSUER is required with SPA_DIR: ISSUER_BASE_URL names 2 issuers; set the one the SPA logs in at"},
		{"another provider", spa("ISSUER_BASE_URL", "https://idp.example.com/", "AUTH_PROVIDER", "oidc"), httpapi.SPASettings{},
			"SPA_ISSUER is required with SPA_DIR and AUTH_PROVIDER=oidc: the issuer the SPA logs in at"},
		{"several audiences", spa("AUDIENCE", "https://x,https://y"), httpapi.SPASettings{},
			"SPA_AUDIENCE is required with SPA_DIR: AUDIENCE names 2 audiences; set the one the SPA asks tokens for"},
		{"an audience the API refuses", spa("SPA_AUDIENCE", "https://other"), httpapi.SPASettings{},
			`SPA_AUDIENCE: "https://other" is not an audience the API accepts (AUDIENCE is https://api.example.com): its tokens would be refused`},
		{"SPA_DPOP not a boolean", spa("SPA_DPOP", "maybe"), httpapi.SPASettings{}, `SPA_DPOP: "maybe" is not true or false`},
		{"SPA_DPOP with DPoP disabled", spa("SPA_DPOP", "true", "DPOP_MODE", "disabled"), httpapi.SPASettings{},
			"SPA_DPOP is true, but DPOP_MODE is disabled: the API would refuse the SPA's DPoP-bound tokens"},
		{"no SPA_DPOP with DPoP required", spa("SPA_DPOP", "false", "DPOP_MODE", "required"), httpapi.SPASettings{},
			"SPA_DPOP is false, but DPOP_MODE is required: the API would refuse the SPA's bearer tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(nil, env(tc.env), io.Discard)
			var spa *httpapi.SPA
			if err == nil {
				spa, err = c.spa.open(c.identity)
			}
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == (httpapi.SPASettings{}) {
				if spa != nil {
					t.Errorf("got an SPA, want none")
				}
				return
			}
			defer spa.Close()
			if got := spa.Settings(); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// -dev with SPA_DIR: the API serves the SPA and its settings name the
// development issuer, its audience and dev-spa; the issuer lets dev-spa
// log in from the API's own origin, on the port it listens on (0 here:
// the kernel's choice), without an edit to config.json.
func TestDevModeServesTheSPA(t *testing.T) {
	dir := t.TempDir()
	dist := distDir(t)
	apiBase, logs, stop := runDev(t, env(map[string]string{"SPA_DIR": dist}),
		"-dev-dir", dir, "-addr", "127.0.0.1:0", "-dev-issuer-addr", "127.0.0.1:0", "-metrics-addr", "off")
	defer stop()
	issuer := "http://localhost:" + strings.TrimPrefix(devIssuerAddr(t, logs), "127.0.0.1:") + "/"
	if !strings.Contains(logs.String(), "SPA        http://localhost:"+apiURLPort(t, apiBase)+"/   (SPA_DIR "+dist+")") {
		t.Errorf("the banner does not name the SPA's address:\n%s", logs.String())
	}

	resp, body := call(t, apiBase+"/some/client/route", "")
	if resp.StatusCode != 404 {
		t.Errorf("a deep link without Accept: text/html: got %d, want 404", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", apiBase+"/some/client/route", nil)
	req.Header.Set("Accept", "text/html")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(page), `<div id="root">`) || r.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("a deep link: got %d %q, CSP %q", r.StatusCode, page, r.Header.Get("Content-Security-Policy"))
	}

	resp, body = call(t, apiBase+"/config.json", "")
	var cfg map[string]any
	if err := json.Unmarshal([]byte(body), &cfg); resp.StatusCode != 200 || err != nil {
		t.Fatalf("/config.json: %d %s", resp.StatusCode, body)
	}
	want := map[string]any{"issuer": issuer, "clientId": devissuer.DefaultSPAClient, "audience": devissuer.DefaultAudience, "dpop": true, "apiUrl": apiBase}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("/config.json %s: got %v, want %v", k, cfg[k], v)
		}
	}

	// The issuer's login page, for the SPA at the API's origins.
	before, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	port := apiURLPort(t, apiBase)
	for _, origin := range []string{"http://localhost:" + port, "http://127.0.0.1:" + port, "http://localhost:1"} {
		q := url.Values{"client_id": {devissuer.DefaultSPAClient}, "redirect_uri": {origin}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"s"}, "code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
		resp, body := call(t, issuer+"authorize?"+q.Encode(), "")
		wantOK := !strings.HasSuffix(origin, ":1")
		if got := resp.StatusCode == 200 && strings.Contains(body, "login-user-alice"); got != wantOK {
			t.Errorf("/authorize with redirect_uri %s: got %d (login page: %v), want the login page: %v", origin, resp.StatusCode, got, wantOK)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if string(after) != string(before) {
		t.Errorf("config.json was changed:\n%s", after)
	}
}

func apiURLPort(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}
