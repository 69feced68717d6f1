package devissuer

import "slices"

// APIScope is a scope of the API and who holds it in the development
// issuer's default configuration: user ids and client_ids.
type APIScope struct {
	Name    string
	Holders []string
}

// APIScopes are the API's scopes, the one list the development issuer
// takes them from: config.json is written with them on first run, and a
// scope added here later reaches an existing config.json on the next
// start (given to its holders there, once: a scope removed from a user
// afterwards stays removed). cmd/api's tests check that every scope a
// route of the API asks for is listed.
var APIScopes = []APIScope{
	{"read:messages", []string{"alice", DefaultMachine}},
	{"write:messages", []string{"alice", DefaultMachine}},
	// Moderators delete anyone's message. No one holds it by default:
	// api token -scope delete:messages, or give it to a user here.
	{"delete:messages", nil},
}

// knownBeforeAPIScopes are the scopes a config.json without api_scopes
// (written before the field existed) was created with: they are not new
// to it, so a user's removal of one is kept.
var knownBeforeAPIScopes = []string{"read:messages", "write:messages"}

// scopesOf returns the scopes of APIScopes that holder holds.
func scopesOf(holder string) []string {
	out := []string{}
	for _, s := range APIScopes {
		if slices.Contains(s.Holders, holder) {
			out = append(out, s.Name)
		}
	}
	return out
}

// apiScopeNames returns the names of APIScopes.
func apiScopeNames() []string {
	var out []string
	for _, s := range APIScopes {
		out = append(out, s.Name)
	}
	return out
}

// addNewScopes gives the scopes of APIScopes that c has not been given
// yet (not in c.APIScopes) to their holders in c, and records every scope
// of APIScopes in c.APIScopes. A configuration without api_scopes is
// taken to know knownBeforeAPIScopes and every scope someone in it holds.
// It reports whether c changed and should be written back.
func (c *Config) addNewScopes() (changed bool) {
	known := c.APIScopes
	if known == nil {
		known = slices.Clone(knownBeforeAPIScopes)
		for _, u := range c.Users {
			known = append(known, u.Scopes...)
		}
		for _, cl := range c.Clients {
			known = append(known, cl.Scopes...)
		}
	}
	for _, s := range APIScopes {
		if slices.Contains(known, s.Name) {
			continue
		}
		for i := range c.Users {
			if u := &c.Users[i]; slices.Contains(s.Holders, u.ID) && !slices.Contains(u.Scopes, s.Name) {
				u.Scopes = append(u.Scopes, s.Name)
			}
		}
		for i := range c.Clients {
			if cl := &c.Clients[i]; slices.Contains(s.Holders, cl.ClientID) && !slices.Contains(cl.Scopes, s.Name) {
				cl.Scopes = append(cl.Scopes, s.Name)
			}
		}
	}
	for _, name := range apiScopeNames() {
		if !slices.Contains(c.APIScopes, name) {
			c.APIScopes = append(c.APIScopes, name)
			changed = true
		}
	}
	return changed
}
