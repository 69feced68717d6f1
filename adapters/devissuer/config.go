// Package devissuer is an Auth0-compatible development issuer: enough of
// Auth0's Authentication API (discovery, JWKS, /authorize with PKCE,
// /oauth/token, /userinfo, logout) for @auth0/auth0-spa-js and curl to log
// in and get tokens offline. The API checks its tokens with the same auth0
// adapter as real Auth0 tokens.
//
// It is for development only: anyone who can reach it can log in as anyone.
// cmd/api starts it only with -dev, and only on a loopback address.
package devissuer

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/example/spaapi/ports"
)

// Config lists the API, users and clients the issuer knows. It is read
// from config.json in the dev directory, which is created with
// DefaultConfig's content on first run so it can be edited.
type Config struct {
	// Audience is the API identifier access tokens are issued for.
	Audience string   `json:"audience"`
	Users    []User   `json:"users"`
	Clients  []Client `json:"clients"`
	// DPoPNonce makes the token endpoint ask DPoP clients for a server
	// nonce (RFC 9449 §8): false when absent.
	DPoPNonce bool `json:"dpop_nonce,omitempty"`
	// APIScopes are the API's scopes this file has been given (see
	// APIScopes in scopes.go): a scope the API gains later is given to its
	// default holders here on the next start, once, and added to this list.
	APIScopes []string `json:"api_scopes,omitempty"`
}

// User is someone who can log in on the login page.
type User struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	// Scopes are the API permissions the user holds (Auth0 RBAC): they go
	// into "permissions", and those requested also into "scope".
	Scopes []string `json:"scopes"`
}

// Client is an application registered with the issuer.
type Client struct {
	ClientID string `json:"client_id"`
	// ClientSecret is empty for public clients (SPAs), which must use PKCE.
	ClientSecret string `json:"client_secret,omitempty"`
	Name         string `json:"name,omitempty"`
	// Callbacks are the allowed redirect_uri values, compared exactly.
	Callbacks []string `json:"callbacks,omitempty"`
	// LogoutURLs are the allowed returnTo / post_logout_redirect_uri values.
	LogoutURLs []string `json:"logout_urls,omitempty"`
	// WebOrigins may call /oauth/token and /userinfo from a browser and
	// receive web_message responses.
	WebOrigins []string `json:"web_origins,omitempty"`
	// GrantTypes the client may use; empty means authorization_code and
	// refresh_token.
	GrantTypes []string `json:"grant_types,omitempty"`
	// Scopes a machine client (client_credentials) is granted.
	Scopes []string `json:"scopes,omitempty"`
}

// Defaults of the built-in configuration.
const (
	DefaultAudience     = "http://localhost:8080/api"
	DefaultSPAClient    = "dev-spa"
	DefaultMachine      = "dev-machine"
	DefaultMachineToken = "dev-machine-secret"
)

// DefaultConfig is the configuration written on first run: the React SPA
// on its usual ports, a machine client, one user holding the API's scopes
// (as APIScopes says: read and write) and one without.
func DefaultConfig() Config {
	spaOrigins := []string{"http://localhost:3000", "http://localhost:5173"}
	return Config{
		Audience: DefaultAudience,
		Users: []User{
			{ID: "alice", Subject: "dev|alice", Name: "Alice Example", Email: "alice@example.com", Scopes: scopesOf("alice")},
			{ID: "bob", Subject: "dev|bob", Name: "Bob Example", Email: "bob@example.com", Scopes: scopesOf("bob")},
		},
		Clients: []Client{
			{ClientID: DefaultSPAClient, Name: "React SPA (web/)", Callbacks: spaOrigins, LogoutURLs: spaOrigins, WebOrigins: spaOrigins},
			{ClientID: DefaultMachine, ClientSecret: DefaultMachineToken, Name: "Machine client", GrantTypes: []string{"client_credentials"}, Scopes: scopesOf(DefaultMachine)},
		},
		APIScopes: apiScopeNames(),
	}
}

// LoadConfig reads dir/config.json, creating it with DefaultConfig first if
// it does not exist, and checks it. Scopes of APIScopes the file has not
// been given yet are given to their holders in it and written back.
func LoadConfig(dir string) (Config, string, error) {
	path := filepath.Join(dir, "config.json")
	if err := makeDir(dir); err != nil {
		return Config{}, path, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b, _ = json.MarshalIndent(DefaultConfig(), "", "  ")
		b = append(b, '\n')
		if err := createFile(path, b); errors.Is(err, os.ErrExist) {
			// Another process (api token, say) created it first: use theirs.
			if b, err = os.ReadFile(path); err != nil {
				return Config{}, path, err
			}
		} else if err != nil {
			return Config{}, path, err
		}
	} else if err != nil {
		return Config{}, path, err
	}
	if err := checkNotWritableByOthers(path); err != nil {
		return Config{}, path, err
	}
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, path, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, path, fmt.Errorf("%s: %w", path, err)
	}
	if c.addNewScopes() {
		for i := range c.Users {
			if c.Users[i].Scopes == nil {
				c.Users[i].Scopes = []string{}
			}
		}
		b, _ := json.MarshalIndent(c, "", "  ")
		if err := writeFile(path, append(b, '\n')); err != nil {
			return Config{}, path, fmt.Errorf("%s: adding the API's new scopes: %w", path, err)
		}
	}
	return c, path, nil
}

// Validate checks the configuration is usable.
func (c Config) Validate() error {
	if c.Audience == "" {
		return errors.New("audience is required")
	}
	if len(c.Users) == 0 {
		return errors.New("at least one user is required")
	}
	seen := map[string]bool{}
	for _, u := range c.Users {
		if u.ID == "" || u.Subject == "" {
			return errors.New("every user needs an id and a subject")
		}
		if !plainName(u.ID) {
			return fmt.Errorf("user id %q: use letters, digits, '-', '_' or '.'", u.ID)
		}
		if seen["user:"+u.ID] {
			return fmt.Errorf("user id %q appears twice", u.ID)
		}
		seen["user:"+u.ID] = true
	}
	for _, cl := range c.Clients {
		if cl.ClientID == "" {
			return errors.New("every client needs a client_id")
		}
		if seen["client:"+cl.ClientID] {
			return fmt.Errorf("client_id %q appears twice", cl.ClientID)
		}
		seen["client:"+cl.ClientID] = true
		// Browsers are sent to these URLs (and post messages to these
		// origins): http and https only, never javascript: or data:.
		for _, u := range slices.Concat(cl.Callbacks, cl.LogoutURLs) {
			if p, err := url.Parse(u); err != nil || !webScheme(p.Scheme) || p.Host == "" || p.Fragment != "" {
				return fmt.Errorf("client %q: %q is not an absolute http(s) URL without fragment", cl.ClientID, u)
			}
		}
		for _, o := range cl.WebOrigins {
			if p, err := url.Parse(o); err != nil || !webScheme(p.Scheme) || p.Host == "" || (p.Path != "" && p.Path != "/") || p.RawQuery != "" {
				return fmt.Errorf("client %q: web origin %q is not http(s)://host[:port]", cl.ClientID, o)
			}
		}
	}
	return nil
}

// User returns the user with this id.
func (c Config) User(id string) (User, bool) {
	for _, u := range c.Users {
		if u.ID == id {
			return u, true
		}
	}
	return User{}, false
}

func (c Config) client(id string) (Client, bool) {
	for _, cl := range c.Clients {
		if cl.ClientID == id {
			return cl, true
		}
	}
	return Client{}, false
}

func (cl Client) allows(grant string) bool {
	if len(cl.GrantTypes) == 0 {
		return grant == "authorization_code" || grant == "refresh_token"
	}
	return slices.Contains(cl.GrantTypes, grant)
}

func (cl Client) webOrigin(origin string) bool {
	return origin != "" && slices.Contains(cl.WebOrigins, strings.TrimSuffix(origin, "/"))
}

func webScheme(scheme string) bool { return scheme == "http" || scheme == "https" }

// makeDir creates the dev directory (mode 0700) if needed, and refuses one
// that other users may write to: they could replace config.json (and log
// in as anyone with any scope) or keys.json (and sign tokens the API
// trusts).
func makeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return checkNotWritableByOthers(dir)
}

// checkNotWritableByOthers refuses a file or folder that users other than
// its owner may write to.
func checkNotWritableByOthers(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if mode := fi.Mode().Perm(); mode&0o022 != 0 {
		what := "file"
		if fi.IsDir() {
			what = "folder"
		}
		return fmt.Errorf("%s: mode %v lets other users change this %s; run chmod go-w %s", path, mode, what, path)
	}
	return nil
}

func plainName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return s != ""
}

// createFile writes b to a new file at path with mode 0600, atomically,
// failing with os.ErrExist if path exists: of two processes creating it at
// once, one wins and the other reads the winner's file.
func createFile(path string, b []byte) error {
	return writeTemp(path, b, func(tmp string) error { return os.Link(tmp, path) })
}

// writeFile writes b to path with mode 0600, atomically, replacing it.
func writeFile(path string, b []byte) error {
	return writeTemp(path, b, func(tmp string) error { return os.Rename(tmp, path) })
}

// writeTemp writes b to a temporary file next to path and hands it to
// place, which moves or links it into place.
func writeTemp(path string, b []byte, place func(tmp string) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return place(tmp.Name())
}

// IssuerURL is the issuer identifier for a listen address: always
// http://localhost:PORT/, the name browsers and the API use.
func IssuerURL(port string) string { return "http://localhost:" + port + "/" }

// Open loads (or creates) the configuration and keys in dir and returns
// the issuer server, and the configuration file's path for messages.
// proofs checks DPoP proofs at the token endpoint (nil: no DPoP). opts
// change the configuration loaded, in memory.
func Open(dir, issuer string, proofs ports.TokenRequestProofs, log *slog.Logger, opts ...Option) (*Server, string, error) {
	cfg, path, err := LoadConfig(dir)
	if err != nil {
		return nil, path, err
	}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, path, fmt.Errorf("%s: %w", path, err)
		}
	}
	keys, err := OpenKeys(dir, nil)
	if err != nil {
		return nil, path, err
	}
	s, err := NewServer(issuer, cfg, keys, proofs, log, nil)
	return s, path, err
}
