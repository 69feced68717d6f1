package devissuer

import (
	"fmt"
	"slices"
)

// An Option changes the configuration Open loads, in memory only: the
// file stays as it is.
type Option func(*Config) error

// AllowOrigins lets the client also use origins (http://host:port) as
// callback URLs, logout URLs and web origins. cmd/api gives it the
// origins of the API itself when it serves the built SPA (SPA_DIR), so
// that the SPA logs in from whatever port the API listens on without an
// edit to config.json.
func AllowOrigins(clientID string, origins ...string) Option {
	return func(c *Config) error {
		for i := range c.Clients {
			cl := &c.Clients[i]
			if cl.ClientID != clientID {
				continue
			}
			cl.Callbacks = withAll(cl.Callbacks, origins)
			cl.LogoutURLs = withAll(cl.LogoutURLs, origins)
			cl.WebOrigins = withAll(cl.WebOrigins, origins)
			return nil
		}
		return fmt.Errorf("no client %q in the configuration", clientID)
	}
}

// withAll returns list (copied) with the items it lacks added.
func withAll(list, items []string) []string {
	out := slices.Clone(list)
	for _, item := range items {
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out
}
