package devissuer_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
)

// legacyConfig is config.json as the development issuer wrote it before it
// recorded api_scopes, with a developer's own edits: bob renamed, carol
// added with read:messages only.
const legacyConfig = `{
  "audience": "http://localhost:8080/api",
  "users": [
    {"id": "alice", "subject": "dev|alice", "name": "Alice Example", "email": "alice@example.com", "scopes": ["read:messages", "write:messages"]},
    {"id": "bob", "subject": "dev|bob", "name": "Bob (renamed by hand)", "email": "bob@example.com", "scopes": []},
    {"id": "carol", "subject": "dev|carol", "name": "Carol", "email": "carol@example.com", "scopes": ["read:messages"]}
  ],
  "clients": [
    {"client_id": "dev-spa", "name": "React SPA (web/)", "callbacks": ["http://localhost:5173"], "logout_urls": ["http://localhost:5173"], "web_origins": ["http://localhost:5173"]},
    {"client_id": "dev-machine", "client_secret": "dev-machine-secret", "name": "Machine client", "grant_types": ["client_credentials"], "scopes": ["read:messages", "write:messages"]}
  ]
}
`

// messagesScopes is the scope list of an API with messages only: what the
// tests of the rule start from, whatever resources the API has since.
var messagesScopes = []devissuer.APIScope{
	{Name: "read:messages", Holders: []string{"alice", devissuer.DefaultMachine}},
	{Name: "write:messages", Holders: []string{"alice", devissuer.DefaultMachine}},
	{Name: "delete:messages"},
}

// withAPIScopes makes list the API's scope list until t ends.
func withAPIScopes(t *testing.T, list ...devissuer.APIScope) {
	saved := devissuer.APIScopes
	devissuer.APIScopes = list
	t.Cleanup(func() { devissuer.APIScopes = saved })
}

// withGadgets makes the API's scope list that of an API with messages and
// a made-up gadgets resource, as a team adding one edits it.
func withGadgets(t *testing.T) {
	withAPIScopes(t, append(slices.Clone(messagesScopes),
		devissuer.APIScope{Name: "read:gadgets", Holders: []string{"alice", devissuer.DefaultMachine}},
		devissuer.APIScope{Name: "write:gadgets", Holders: []string{"alice"}},
		devissuer.APIScope{Name: "delete:gadgets"},
	)...)
}

func writeConfig(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readConfig reads config.json as it is on disk.
func readConfig(t *testing.T, dir string) devissuer.Config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c devissuer.Config
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func scopesOf(t *testing.T, c devissuer.Config, id string) []string {
	t.Helper()
	if u, ok := c.User(id); ok {
		return u.Scopes
	}
	for _, cl := range c.Clients {
		if cl.ClientID == id {
			return cl.Scopes
		}
	}
	t.Fatalf("no user or client %s", id)
	return nil
}

// A fresh config.json holds the API's scopes as the list gives them, and
// records them all.
func TestDefaultConfigFollowsAPIScopes(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := devissuer.LoadConfig(dir); err != nil {
		t.Fatal(err)
	}
	c := readConfig(t, dir)
	var names []string
	for _, s := range devissuer.APIScopes {
		names = append(names, s.Name)
		for _, holder := range []string{"alice", "bob", devissuer.DefaultMachine} {
			if got, want := slices.Contains(scopesOf(t, c, holder), s.Name), slices.Contains(s.Holders, holder); got != want {
				t.Errorf("%s holds %s: got %v, want %v", holder, s.Name, got, want)
			}
		}
	}
	if !slices.Equal(c.APIScopes, names) {
		t.Errorf("api_scopes: got %q, want %q", c.APIScopes, names)
	}
	if !slices.Contains(scopesOf(t, c, "alice"), "write:messages") {
		t.Errorf("alice lacks write:messages: the SPA's demo could not delete her messages")
	}
}

// A scope the API gains reaches an existing config.json on the next start,
// with no hand edit: its holders get it (alice can log in with it, the
// machine client gets it), every other edit of the file stays, and a
// scope the developer then takes away from a user stays away.
func TestNewAPIScopesReachAnExistingConfig(t *testing.T) {
	withGadgets(t)
	dir := t.TempDir()
	writeConfig(t, dir, legacyConfig)

	e := newEnvIn(t, dir, dpop.DefaultConfig()) // the development issuer restarted
	verifier, challenge := pkce("gadgets")
	q := authParams(challenge)
	q.Set("scope", "openid read:messages write:messages read:gadgets write:gadgets delete:gadgets")
	back := e.login(q, url.Values{"user": {"alice"}})
	status, body := e.token(codeExchange(back.Query().Get("code"), verifier), false)
	if status != 200 {
		t.Fatalf("token: got %d %v", status, body)
	}
	p, err := e.api().Verify(context.Background(), str(body, "access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"openid", "read:messages", "write:messages", "read:gadgets", "write:gadgets"}; !slices.Equal(p.Scopes, want) {
		t.Errorf("alice's scopes: got %q, want %q", p.Scopes, want)
	}
	status, body = e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine},
		"client_secret": {devissuer.DefaultMachineToken}, "audience": {devissuer.DefaultAudience}}, false)
	if status != 200 || str(body, "scope") != "read:messages write:messages read:gadgets" {
		t.Errorf("machine client: got %d, scope %q; want read:messages write:messages read:gadgets", status, str(body, "scope"))
	}

	c := readConfig(t, dir)
	for id, want := range map[string][]string{
		"alice":                  {"read:messages", "write:messages", "read:gadgets", "write:gadgets"},
		"bob":                    {},
		"carol":                  {"read:messages"},
		devissuer.DefaultMachine: {"read:messages", "write:messages", "read:gadgets"},
	} {
		if got := scopesOf(t, c, id); !slices.Equal(got, want) {
			t.Errorf("%s in config.json: got %q, want %q", id, got, want)
		}
	}
	if bob, _ := c.User("bob"); bob.Name != "Bob (renamed by hand)" {
		t.Errorf("bob's name: got %q, the edit is lost", bob.Name)
	}
	if want := []string{"read:messages", "write:messages", "delete:messages", "read:gadgets", "write:gadgets", "delete:gadgets"}; !slices.Equal(c.APIScopes, want) {
		t.Errorf("api_scopes: got %q, want %q", c.APIScopes, want)
	}

	// The developer takes write:gadgets away from alice: it stays away.
	for i := range c.Users {
		if c.Users[i].ID == "alice" {
			c.Users[i].Scopes = []string{"read:messages", "write:messages", "read:gadgets"}
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, string(b))
	loaded, _, err := devissuer.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := scopesOf(t, loaded, "alice"); slices.Contains(got, "write:gadgets") {
		t.Errorf("alice after the developer removed write:gadgets: got %q", got)
	}
}

// A config.json written before api_scopes existed, from which the
// developer removed write:messages: it is not given back.
func TestRemovedScopeOfAnOlderConfigStaysRemoved(t *testing.T) {
	withAPIScopes(t, messagesScopes...)
	dir := t.TempDir()
	var c devissuer.Config
	if err := json.Unmarshal([]byte(legacyConfig), &c); err != nil {
		t.Fatal(err)
	}
	c.Users[0].Scopes = []string{"read:messages"}
	c.Clients[1].Scopes = []string{"read:messages"}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, string(b))
	loaded, _, err := devissuer.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alice", devissuer.DefaultMachine} {
		if got := scopesOf(t, loaded, id); !slices.Equal(got, []string{"read:messages"}) {
			t.Errorf("%s: got %q, want read:messages only", id, got)
		}
	}
}
