package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/domain"
)

const mfa = devissuer.ACRMultiFactor

func TestStepUpSetting(t *testing.T) {
	base := map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUDIENCE": "https://api"}
	with := func(v string) map[string]string {
		m := map[string]string{"STEP_UP": v}
		for k, x := range base {
			m[k] = x
		}
		return m
	}
	del := "DELETE /api/messages/{id}"
	for _, tc := range []struct {
		name  string
		value string
		want  map[string]domain.StepUp
		err   string
	}{
		{"unset: none", "", nil, ""},
		{"off: none", "off", nil, ""},
		{"acr and max_age", del + " acr=" + mfa + " max_age=5m", map[string]domain.StepUp{del: {ACR: []string{mfa}, MaxAge: 5 * time.Minute}}, ""},
		{"max_age in seconds", del + " max_age=300", map[string]domain.StepUp{del: {MaxAge: 300 * time.Second}}, ""},
		{"two acr values, two rules, lower-case method", "delete /api/messages/{id} acr=urn:loa:2,urn:loa:3 ; GET /api/me max_age=1h",
			map[string]domain.StepUp{del: {ACR: []string{"urn:loa:2", "urn:loa:3"}}, "GET /api/me": {MaxAge: time.Hour}}, ""},
		{"unknown route", "DELETE /api/messages acr=x", nil, `STEP_UP: "DELETE /api/messages" is not a route that takes a token; one of: GET /api/private, `},
		{"public route", "GET /api/public max_age=1m", nil, `STEP_UP: "GET /api/public" is not a route that takes a token`},
		{"HEAD goes with GET", "HEAD /api/me max_age=1m", nil, `STEP_UP: "HEAD /api/me" is not a route that takes a token`},
		{"nothing asked", del, nil, "STEP_UP: DELETE /api/messages/{id} asks for nothing: give acr=VALUE and/or max_age=DURATION"},
		{"route alone", "DELETE", nil, `STEP_UP: "DELETE" is not a rule like METHOD /path acr=VALUE max_age=DURATION`},
		{"twice", del + " max_age=1m;" + del + " acr=x", nil, "STEP_UP: DELETE /api/messages/{id} has two rules; give it one"},
		{"empty rule", del + " max_age=1m;;", nil, "STEP_UP: empty rule in"},
		{"unknown key", del + " amr=mfa", nil, `STEP_UP: DELETE /api/messages/{id}: "amr=mfa" is neither acr=VALUE[,VALUE...] nor max_age=DURATION`},
		{"acr twice", del + " acr=a acr=b", nil, "STEP_UP: DELETE /api/messages/{id}: acr given twice"},
		{"empty acr", del + " acr=", nil, `STEP_UP: DELETE /api/messages/{id}: acr "": each value is non-empty printable ASCII`},
		{"empty acr in a list", del + " acr=a,,b", nil, `STEP_UP: DELETE /api/messages/{id}: acr "a,,b"`},
		{"quote in acr", del + ` acr=a"b`, nil, `STEP_UP: DELETE /api/messages/{id}: acr "a\"b"`},
		{"max_age zero", del + " max_age=0", nil, `STEP_UP: DELETE /api/messages/{id}: max_age: "0" is not a whole number of seconds from 1s to 8784h0m0s`},
		{"max_age negative", del + " max_age=-5m", nil, `max_age: "-5m" is not a whole number of seconds`},
		{"max_age fraction", del + " max_age=1500ms", nil, `max_age: "1500ms" is not a whole number of seconds`},
		{"max_age over a year", del + " max_age=9000h", nil, `max_age: "9000h" is not a whole number of seconds`},
		{"max_age huge number", del + " max_age=99999999999999999999", nil, `max_age: "99999999999999999999" is not a duration like 5m or a number of seconds`},
		{"max_age words", del + " max_age=soon", nil, `max_age: "soon" is not a duration like 5m or a number of seconds`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(nil, env(with(tc.value)), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) && !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.web.StepUp) != len(tc.want) {
				t.Fatalf("got %v, want %v", c.web.StepUp, tc.want)
			}
			for route, want := range tc.want {
				got := c.web.StepUp[route]
				if !slices.Equal(got.ACR, want.ACR) || got.MaxAge != want.MaxAge {
					t.Errorf("%s: got %+v, want %+v", route, got, want)
				}
			}
		})
	}
	t.Run("flag wins", func(t *testing.T) {
		c, err := loadConfig([]string{"-step-up", "GET /api/me max_age=1m"}, env(with(del+" max_age=1h")), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.web.StepUp["GET /api/me"]; !ok || len(c.web.StepUp) != 1 {
			t.Errorf("got %v, want GET /api/me only", c.web.StepUp)
		}
	})
	t.Run("-dev default, and off", func(t *testing.T) {
		dir := t.TempDir()
		c, err := loadConfig([]string{"-dev", "-dev-dir", dir}, env(map[string]string{}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.web.StepUp[del]; len(c.web.StepUp) != 1 || !slices.Equal(got.ACR, []string{mfa}) || got.MaxAge != 10*time.Minute {
			t.Errorf("got %v, want %s acr %s max_age 10m", c.web.StepUp, del, mfa)
		}
		c, err = loadConfig([]string{"-dev", "-dev-dir", dir}, env(map[string]string{"STEP_UP": "off"}), io.Discard)
		if err != nil || c.web.StepUp != nil {
			t.Errorf("STEP_UP=off with -dev: got %v, %v; want no rules", c.web.StepUp, err)
		}
	})
}

func TestTokenLoginFlags(t *testing.T) {
	now := time.Unix(1_900_000_000, 700_000_000)
	for _, tc := range []struct {
		acr, amr, authTime string
		want               devissuer.Login
		err                string
	}{
		{"", "", "", devissuer.Login{}, ""},
		{mfa, "pwd,otp", "1899999000", devissuer.Login{ACR: mfa, AMR: []string{"pwd", "otp"}, Time: time.Unix(1_899_999_000, 0)}, ""},
		{"", "", "now", devissuer.Login{Time: time.Unix(1_900_000_000, 0)}, ""},
		{"a b", "", "", devissuer.Login{}, `-acr: "a b" is one value, without spaces`},
		{"", "pwd,", "", devissuer.Login{}, `-amr: empty method in "pwd,"`},
		{"", "", "yesterday", devissuer.Login{}, `-auth-time: "yesterday" is not a time in Unix seconds`},
		{"", "", "-1", devissuer.Login{}, `-auth-time: "-1" is not a time in Unix seconds`},
		{"", "", strconv.FormatInt(now.Unix()+7200, 10), devissuer.Login{}, "at most an hour ahead"},
	} {
		got, err := tokenLogin(tc.acr, tc.amr, tc.authTime, now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q %q %q: got %v, want %q", tc.acr, tc.amr, tc.authTime, err, tc.err)
			}
			continue
		}
		if err != nil || got.ACR != tc.want.ACR || !slices.Equal(got.AMR, tc.want.AMR) || !got.Time.Equal(tc.want.Time) {
			t.Errorf("%q %q %q: got %+v, %v; want %+v", tc.acr, tc.amr, tc.authTime, got, err, tc.want)
		}
	}
}

// With -dev, deleting a message asks for the development issuer's second
// step within ten minutes: tokens from api token without -acr, or with an
// old -auth-time, get the RFC 9470 challenge; one with both is let
// through.
func TestDevModeStepUpOnDelete(t *testing.T) {
	dir := t.TempDir()
	base, logs, _ := runDev(t, env(map[string]string{}),
		"-dev-dir", dir, "-addr", "127.0.0.1:0", "-dev-issuer-addr", "127.0.0.1:0", "-metrics-addr", "off")
	issuerAddr := devIssuerAddr(t, logs)
	waitStatus(t, base+"/readyz", 200)
	line := logs.waitFor(t, `"msg":"listening"`)
	if got, _ := json.Marshal(line["step_up"]); string(got) != `["DELETE /api/messages/{id} acr=`+mfa+` max_age=10m0s"]` {
		t.Errorf("start-up log step_up: got %s", got)
	}
	token := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"token", "-dev-dir", dir, "-dev-issuer-addr", issuerAddr, "-scope", "read:messages write:messages"}, args...),
			env(map[string]string{}), &stdout, &stderr)
		if err != nil {
			t.Fatalf("token %v: %v (%s)", args, err, stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}
	weak := token()
	id := mustPost(t, base, weak, "delete me with a second step")
	hourAgo := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	for _, tc := range []struct {
		name, token, description string
	}{
		{"no acr", weak, "a stronger login is required: acr " + mfa + "; the token has no acr"},
		{"another acr", token("-acr", "urn:loa:1", "-auth-time", "now"), "a stronger login is required: acr " + mfa + "; the token's acr is another"},
		{"stale", token("-acr", mfa, "-auth-time", hourAgo), "a more recent login is required: within 600 seconds; the user logged in "},
		{"no auth_time", token("-acr", mfa), "a more recent login is required: within 600 seconds; the token has no auth_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("DELETE", base+"/api/messages/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
				ACRValues        string `json:"acr_values"`
				MaxAge           int64  `json:"max_age"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Errorf("body %s: %v", raw, err)
			}
			wantChallenge := `Bearer realm="api", error="insufficient_user_authentication", error_description="` + tc.description
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), wantChallenge) ||
				!strings.Contains(resp.Header.Get("WWW-Authenticate"), `, acr_values="`+mfa+`", max_age="600"`) {
				t.Errorf("got %d %q, want 401 %s…", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), wantChallenge)
			}
			if body.Error != "insufficient_user_authentication" || !strings.HasPrefix(body.ErrorDescription, tc.description) ||
				body.ACRValues != mfa || body.MaxAge != 600 {
				t.Errorf("body: got %s", raw)
			}
		})
	}
	if status := deleteMessage(t, base, token("-acr", mfa, "-auth-time", "now"), id); status != 204 {
		t.Errorf("stepped-up token: got %d, want 204", status)
	}
}
