package httpapi_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/limitertest"
)

const mfaACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

// stepUpFixture is the router with DELETE /api/messages/{id} asking for
// acr mfaACR or urn:loa:3 and a login at most 600 s old, GET /api/me for a
// login at most 60 s old, and a failure limit of limitFailures.
type stepUpFixture struct {
	*fixture
	key *dpop.Signer // the key tokBoundWeak is bound to
}

func newStepUpFixture(t *testing.T) *stepUpFixture {
	t.Helper()
	now := time.Now()
	exp := now.Add(time.Hour)
	write := []string{"read:messages", "write:messages"}
	key, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	v := fake.New()
	login := func(token, acr string, ago time.Duration, scopes []string, jkt string) {
		p := domain.Principal{Issuer: "https://one.example/", Subject: "auth0|alice", Scopes: scopes, ExpiresAt: exp, ACR: acr, JKT: jkt}
		if ago >= 0 {
			p.AuthTime = now.Add(-ago).Truncate(time.Second) // auth_time is in whole seconds
		}
		v.Accept(token, p)
	}
	login("weak", "", 10*time.Second, write, "")
	login("other-acr", "urn:loa:1", 10*time.Second, write, "")
	login("strong", mfaACR, 10*time.Second, write, "")
	login("loa3", "urn:loa:3", 10*time.Second, write, "")
	login("stale", mfaACR, 2*time.Hour, write, "")
	login("no-auth-time", mfaACR, -1, write, "")
	login("strong-reader", mfaACR, 10*time.Second, []string{"read:messages"}, "")
	login("weak-bound", "", 10*time.Second, write, key.JKT())
	v.Refuse(tokForged, domain.InvalidToken(domain.ReasonSignature, errors.New("crypto/rsa: verification error")))

	limit := domain.FailureLimit{Failures: limitFailures, Window: limitFailures * time.Second}
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	metrics, err := httpapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	store := fake.NewMessages()
	proofs, replay := newProofs(t, nil)
	h := httpapi.NewRouter(httpapi.Config{
		AllowedOrigins: []string{spa},
		StepUp: map[string]domain.StepUp{
			"DELETE /api/messages/{id}": {ACR: []string{mfaACR, "urn:loa:3"}, MaxAge: 600 * time.Second},
			"GET /api/me":               {MaxAge: time.Minute},
		},
	}, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, memory.NewFailureLimiter(limit, 1024, limitertest.NewClock().Now)),
		Health:   app.NewHealth(v, ports.Stores{Database: store, Messages: store}, replay),
		Messages: app.NewMessages(store, fixtureQuota),
	}, slog.New(slog.NewJSONHandler(logs, nil)), metrics)
	return &stepUpFixture{fixture: &fixture{handler: h, fake: v, store: store, logs: logs, reg: reg}, key: key}
}

// stepUpAnswer is an insufficient_user_authentication body, decoded
// strictly.
type stepUpAnswer struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	ACRValues   string `json:"acr_values"`
	MaxAge      *int64 `json:"max_age"`
}

func decodeStepUp(t *testing.T, rec *httptest.ResponseRecorder) stepUpAnswer {
	t.Helper()
	var body stepUpAnswer
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return body
}

// A token that fails a route's step-up rule gets 401
// insufficient_user_authentication with the rule in the challenge (RFC
// 9470 §3) and in the body; the message stays. The whole requirement is
// in every challenge, whichever part failed: the next login must give
// all of it.
func TestStepUpRefusals(t *testing.T) {
	f := newStepUpFixture(t)
	const (
		noACR    = "a stronger login is required: acr one of " + mfaACR + ", urn:loa:3; the token has no acr"
		params   = `acr_values="` + mfaACR + ` urn:loa:3", max_age="600"`
		deleteTo = "/api/messages/"
	)
	for _, tc := range []struct {
		token, description string
	}{
		{"weak", noACR},
		{"other-acr", "a stronger login is required: acr one of " + mfaACR + ", urn:loa:3; the token's acr is another"},
		{"stale", "a more recent login is required: within 600 seconds; the user logged in 7200 seconds ago"},
		{"no-auth-time", "a more recent login is required: within 600 seconds; the token has no auth_time"},
	} {
		t.Run(tc.token, func(t *testing.T) {
			m := f.post(t, tc.token, "mine") // posting asks nothing more
			rec := f.send("DELETE", deleteTo+m.ID, tc.token, "", "")
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("got %d %s, want 401", rec.Code, rec.Body)
			}
			want := []string{`Bearer realm="api", error="insufficient_user_authentication", error_description="` + tc.description + `", ` + params, dpopOffer}
			got := challengesOf(t, rec.Header())
			for i := range got {
				got[i] = twoHoursAgo(got[i])
			}
			if !slices.Equal(got, want) {
				t.Errorf("WWW-Authenticate:\n got %q\nwant %q", got, want)
			}
			body := decodeStepUp(t, rec)
			if body.Error != "insufficient_user_authentication" || twoHoursAgo(body.Description) != tc.description ||
				body.ACRValues != mfaACR+" urn:loa:3" || body.MaxAge == nil || *body.MaxAge != 600 {
				t.Errorf("body: got %+v", body)
			}
			if got := f.list(t, tc.token, "/api/messages"); len(got.Messages) == 0 || got.Messages[0].ID != m.ID {
				t.Fatalf("the message is gone after a refused delete: %+v", got.Messages)
			}
			// Clean up with a login that passes.
			if rec := f.send("DELETE", deleteTo+m.ID, "strong", "", ""); rec.Code != http.StatusNoContent {
				t.Fatalf("strong login deleting: got %d %s", rec.Code, rec.Body)
			}
		})
	}
	if got := outcome(t, f.reg, "insufficient_user_authentication"); got != 4 {
		t.Errorf("auth_outcomes_total{outcome=insufficient_user_authentication}: got %v, want 4", got)
	}
	if !strings.Contains(f.logs.String(), `"reason":"insufficient_user_authentication"`) {
		t.Errorf("the log does not give the reason:\n%s", f.logs)
	}
}

func TestStepUpAccepted(t *testing.T) {
	f := newStepUpFixture(t)
	for _, token := range []string{"strong", "loa3"} {
		mine := f.post(t, token, "mine")
		if rec := f.send("DELETE", "/api/messages/"+mine.ID, token, "", ""); rec.Code != http.StatusNoContent {
			t.Errorf("%s deleting hers: got %d %s, want 204", token, rec.Code, rec.Body)
		}
	}
}

// The route's own policy is checked first: a caller without the scope is
// told so (403), not sent to log in again for nothing; ownership is still
// checked after the step-up passes.
func TestStepUpAfterTheRoutePolicy(t *testing.T) {
	f := newStepUpFixture(t)
	m := f.post(t, "weak", "alice's")
	rec := f.send("DELETE", "/api/messages/"+m.ID, "strong-reader", "", "")
	if rec.Code != http.StatusForbidden || decodeError(t, rec).Error != "insufficient_scope" {
		t.Errorf("strong login without write:messages: got %d %s, want 403 insufficient_scope", rec.Code, rec.Body)
	}
	f.fake.Accept("bob-strong", domain.Principal{Issuer: "https://one.example/", Subject: "auth0|bob", Scopes: []string{"write:messages"},
		ACR: mfaACR, AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
	rec = f.send("DELETE", "/api/messages/"+m.ID, "bob-strong", "", "")
	if rec.Code != http.StatusForbidden {
		t.Errorf("bob, stepped up, deleting alice's: got %d %s, want 403", rec.Code, rec.Body)
	}
}

// Routes the setting does not name ask nothing more; a GET rule covers
// HEAD; a route that takes any token can be given a rule too.
func TestStepUpOnlyWhereAsked(t *testing.T) {
	f := newStepUpFixture(t)
	if rec := f.send("GET", "/api/messages", "weak", "", ""); rec.Code != http.StatusOK {
		t.Errorf("GET /api/messages, weak login: got %d, want 200", rec.Code)
	}
	if rec := f.send("POST", "/api/messages", "no-auth-time", jsonType, `{"text":"x"}`); rec.Code != http.StatusCreated {
		t.Errorf("POST, no auth_time: got %d, want 201", rec.Code)
	}
	for _, method := range []string{"GET", "HEAD"} {
		if rec := f.send(method, "/api/me", "weak", "", ""); rec.Code != http.StatusOK {
			t.Errorf("%s /api/me, 10 s old: got %d, want 200", method, rec.Code)
		}
		rec := f.send(method, "/api/me", "stale", "", "")
		want := `Bearer realm="api", error="insufficient_user_authentication", error_description="a more recent login is required: within 60 seconds; the user logged in 7200 seconds ago", max_age="60"`
		if rec.Code != http.StatusUnauthorized || twoHoursAgo(challengeOf(t, rec.Header())) != want {
			t.Errorf("%s /api/me, 2 h old: got %d %q, want 401 %s", method, rec.Code, rec.Header().Values("WWW-Authenticate"), want)
		}
	}
	rec := f.send("GET", "/api/me", "weak", "", "")
	var me struct {
		ACR      string     `json:"acr"`
		AuthTime *time.Time `json:"auth_time"`
	}
	if err := json.NewDecoder(rec.Body).Decode(&me); err != nil || me.AuthTime == nil || me.ACR != "" {
		t.Errorf("/api/me: got %+v, %v; want auth_time and no acr", me, err)
	}
	rec = f.send("GET", "/api/me", "strong", "", "")
	if err := json.NewDecoder(rec.Body).Decode(&me); err != nil || me.ACR != mfaACR {
		t.Errorf("/api/me: got %+v, %v; want acr %s", me, err, mfaACR)
	}
}

// A DPoP request gets the same refusal in the DPoP challenge (RFC 9449
// §7.1 carries RFC 6750's parameters and RFC 9470's likewise).
func TestStepUpDPoP(t *testing.T) {
	f := newStepUpFixture(t)
	m := f.post(t, "weak", "alice's")
	url := "http://example.com/api/messages/" + m.ID
	proof, err := f.key.Proof("DELETE", url, "weak-bound", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("DELETE", url, nil)
	req.Header.Set("Authorization", "DPoP weak-bound")
	req.Header.Set("DPoP", proof)
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	want := []string{
		`DPoP error="insufficient_user_authentication", error_description="a stronger login is required: acr one of ` + mfaACR +
			`, urn:loa:3; the token has no acr", acr_values="` + mfaACR + ` urn:loa:3", max_age="600", algs="` + allAlgs + `"`,
		bearerOffer,
	}
	if got := challengesOf(t, rec.Header()); rec.Code != 401 || !slices.Equal(got, want) {
		t.Errorf("got %d %q\nwant 401 %q", rec.Code, got, want)
	}
	if body := decodeStepUp(t, rec); body.Error != "insufficient_user_authentication" {
		t.Errorf("body: got %+v", body)
	}
}

// insufficient_user_authentication is no failed credential: the token is
// valid. A client refused for it any number of times is not blocked by
// the failed-credential limit; one refused as many times for a forged
// token is (the control: the limit is on in this fixture).
func TestStepUpIsNoFailedCredential(t *testing.T) {
	f := newStepUpFixture(t)
	m := f.post(t, "weak", "alice's")
	send := func(remote, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("DELETE", "/api/messages/"+m.ID, nil)
		req.RemoteAddr = remote
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		return rec
	}
	const stepper, forger = "192.0.2.1:1000", "192.0.2.2:1000"
	for i := range 3 * limitFailures {
		if rec := send(stepper, "weak"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("weak login, try %d: got %d %s, want 401", i+1, rec.Code, rec.Body)
		}
		send(forger, tokForged)
	}
	if rec := send(forger, "strong"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("control: after %d forged tokens the client is not blocked (got %d)", 3*limitFailures, rec.Code)
	}
	if rec := send(stepper, "strong"); rec.Code != http.StatusNoContent {
		t.Errorf("after %d step-up refusals, the stepped-up login: got %d %s, want 204", 3*limitFailures, rec.Code, rec.Body)
	}
}

func TestTokenRoutes(t *testing.T) {
	want := []string{"GET /api/private", "GET /api/private-scoped", "GET /api/me", "GET /api/messages", "POST /api/messages", "DELETE /api/messages/{id}"}
	if got := httpapi.TokenRoutes(); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// A step-up rule for a route that is not there, or takes no token, is a
// programming error (cmd/api checks STEP_UP first): NewRouter panics
// rather than serve the route unprotected.
func TestStepUpUnknownRoutePanics(t *testing.T) {
	for _, key := range []string{"DELETE /api/messages", "GET /api/public", "delete /api/messages/{id}", "HEAD /api/me"} {
		t.Run(key, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewRouter with StepUp[%q]: no panic", key)
				}
			}()
			metrics, _ := httpapi.NewMetrics(prometheus.NewRegistry())
			v := fake.New()
			store := fake.NewMessages()
			proofs, replay := newProofs(t, nil)
			httpapi.NewRouter(httpapi.Config{StepUp: map[string]domain.StepUp{key: {MaxAge: time.Minute}}}, httpapi.Services{
				Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, nil),
				Health:   app.NewHealth(v, ports.Stores{Database: store, Messages: store}, replay),
				Messages: app.NewMessages(store, fixtureQuota),
			}, slog.New(slog.DiscardHandler), metrics)
		})
	}
}

// twoHoursAgo reads the stale login's age in s as the 7,200 seconds the
// fixture made it: auth_time is in whole seconds, so a check made after the
// next second boundary counts 7,201.
func twoHoursAgo(s string) string {
	return strings.Replace(s, "logged in 7201 seconds ago", "logged in 7200 seconds ago", 1)
}
