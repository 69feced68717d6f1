package main

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/example/spaapi/adapters/auth0"
	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/app"
)

// spaConfig is the built SPA the API serves from its own origin (SPA_DIR)
// and the settings the SPA reads from /config.json. Issuer and audience
// default to the API's own, known once the identity provider's settings
// are final (after -dev's issuer has started): see open.
type spaConfig struct {
	dir      string // "" when the API serves no SPA
	clientID string
	issuer   string // SPA_ISSUER as given; "" for the API's own issuer
	audience string // SPA_AUDIENCE as given; "" for the API's own audience
	dpop     bool
}

// spaSettings are the settings of the SPA served by the API.
func spaSettings() []*setting {
	return []*setting{
		{flag: "spa-dir", envs: []string{"SPA_DIR"}, usage: "serve the built SPA in this directory at / (e.g. web/dist after npm run build), with its settings at /config.json"},
		{flag: "spa-client-id", envs: []string{"SPA_CLIENT_ID"}, usage: "with SPA_DIR: the SPA's client ID at the identity provider (required, except with -dev: dev-spa)"},
		{flag: "spa-issuer", envs: []string{"SPA_ISSUER"}, usage: "with SPA_DIR: where the SPA logs in (default: the API's issuer, ISSUER_BASE_URL or AUTH0_DOMAIN, when it names one)"},
		{flag: "spa-audience", envs: []string{"SPA_AUDIENCE"}, usage: "with SPA_DIR: the audience the SPA asks tokens for (default: AUDIENCE, when it names one)"},
		{flag: "spa-dpop", envs: []string{"SPA_DPOP"}, usage: "with SPA_DIR: true or false, whether the SPA binds its tokens with DPoP (default true with -dev or DPOP_MODE=required, else false)"},
	}
}

// loadSPA reads the SPA's settings and checks what can be checked before
// the identity provider's settings are final (see spaConfig.open for the
// rest). Errors name the variable.
func loadSPA(get getter, dev bool, mode app.DPoPMode) (spaConfig, error) {
	values := map[string]string{}
	from := map[string]string{}
	for _, name := range []string{"spa-dir", "spa-client-id", "spa-issuer", "spa-audience", "spa-dpop"} {
		v, f, err := get(name)
		if err != nil {
			return spaConfig{}, err
		}
		values[name], from[name] = v, f
	}
	c := spaConfig{dir: values["spa-dir"], clientID: values["spa-client-id"], issuer: values["spa-issuer"], audience: values["spa-audience"]}
	if c.dir == "" {
		for _, name := range []string{"spa-client-id", "spa-issuer", "spa-audience", "spa-dpop"} {
			if values[name] != "" {
				return spaConfig{}, fmt.Errorf("%s is set, but SPA_DIR is not (the API serves no SPA); set SPA_DIR or unset %s", from[name], from[name])
			}
		}
		return spaConfig{}, nil
	}
	if c.clientID == "" {
		if !dev {
			return spaConfig{}, fmt.Errorf("%s is required with SPA_DIR: the client ID of the SPA's application at the identity provider (Auth0 dashboard > Applications)", from["spa-client-id"])
		}
		c.clientID = devissuer.DefaultSPAClient
	}
	if c.issuer != "" {
		if dev {
			return spaConfig{}, fmt.Errorf("%s is set, but -dev runs its own issuer, where the SPA logs in; unset it or drop -dev", from["spa-issuer"])
		}
		if err := checkIssuerURL(c.issuer); err != nil {
			return spaConfig{}, fmt.Errorf("%s: %w", from["spa-issuer"], err)
		}
	}
	c.dpop = dev || mode == app.DPoPRequired
	if v := values["spa-dpop"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return spaConfig{}, fmt.Errorf("%s: %q is not true or false", from["spa-dpop"], v)
		}
		switch {
		case b && mode == app.DPoPDisabled:
			return spaConfig{}, fmt.Errorf("%s is true, but DPOP_MODE is disabled: the API would refuse the SPA's DPoP-bound tokens", from["spa-dpop"])
		case !b && mode == app.DPoPRequired:
			return spaConfig{}, fmt.Errorf("%s is false, but DPOP_MODE is required: the API would refuse the SPA's bearer tokens", from["spa-dpop"])
		}
		c.dpop = b
	}
	return c, nil
}

// checkIssuerURL checks an issuer URL the browser is sent to: http(s),
// https unless on loopback, no user, query or fragment.
func checkIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an issuer URL like https://TENANT.auth0.com/", s)
	}
	if u.Scheme == "http" {
		if _, ok := loopbackIP(u.Hostname()); !ok {
			return fmt.Errorf("%q: https is required unless the host is localhost or a loopback address", s)
		}
	}
	return nil
}

// open resolves the SPA's issuer and audience against the identity
// provider's final settings and opens the directory: nil without SPA_DIR. The issuer must be
// one the API trusts and the audience one it accepts, where the API's
// settings say which: the SPA's tokens would be refused otherwise.
func (c spaConfig) open(id identity) (*httpapi.SPA, error) {
	if c.dir == "" {
		return nil, nil
	}
	trusted := trustedIssuers(id)
	issuer := c.issuer
	switch {
	case issuer == "" && len(trusted) == 1:
		issuer = trusted[0]
	case issuer == "" && len(trusted) > 1:
		return nil, fmt.Errorf("SPA_ISSUER is required with SPA_DIR: ISSUER_BASE_URL names %d issuers; set the one the SPA logs in at", len(trusted))
	case issuer == "":
		return nil, fmt.Errorf("SPA_ISSUER is required with SPA_DIR and AUTH_PROVIDER=%s: the issuer the SPA logs in at", id.name)
	case len(trusted) > 0 && !slices.Contains(trusted, sameIssuer(issuer)):
		return nil, fmt.Errorf("SPA_ISSUER: %q is not an issuer the API trusts (%s): its tokens would be refused", issuer, strings.Join(trusted, ", "))
	}

	audiences, _ := jwtverify.List(id.setting("audience"))
	audience := c.audience
	switch {
	case audience == "" && len(audiences) == 1:
		audience = audiences[0]
	case audience == "" && len(audiences) > 1:
		return nil, fmt.Errorf("SPA_AUDIENCE is required with SPA_DIR: AUDIENCE names %d audiences; set the one the SPA asks tokens for", len(audiences))
	case audience == "":
		return nil, fmt.Errorf("SPA_AUDIENCE is required with SPA_DIR: the API identifier the SPA asks tokens for (AUDIENCE is not set)")
	case len(audiences) > 0 && !slices.Contains(audiences, audience):
		return nil, fmt.Errorf("SPA_AUDIENCE: %q is not an audience the API accepts (AUDIENCE is %s): its tokens would be refused", audience, strings.Join(audiences, ","))
	}

	spa, err := httpapi.OpenSPA(c.dir, httpapi.SPASettings{Issuer: issuer, ClientID: c.clientID, Audience: audience, DPoP: c.dpop})
	if err != nil {
		return nil, fmt.Errorf("SPA_DIR: %w", err)
	}
	return spa, nil
}

// trustedIssuers lists the issuers the API trusts, each as sameIssuer
// writes it, when its provider's settings name them (the auth0 provider,
// which -dev uses too; its AUTH0_DOMAIN shortcut resolved); nil for the
// other providers, whose issuers the SPA's Auth0 SDK cannot log in at
// without an explicit SPA_ISSUER.
func trustedIssuers(id identity) []string {
	cfg, ok := id.config.(auth0.Config)
	if !ok {
		return nil
	}
	var out []string
	for _, iss := range append([]string{cfg.IssuerBaseURL}, cfg.Issuers...) {
		if iss != "" {
			out = append(out, sameIssuer(iss))
		}
	}
	return out
}

// sameIssuer writes an issuer URL with one trailing slash and a lower-case
// scheme and host, so that two spellings of one issuer compare equal.
func sameIssuer(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	return strings.TrimSuffix(u.String(), "/") + "/"
}

// apiOrigins are the origins a browser may load the SPA from when the API
// listens on addr with -dev: localhost and the loopback address, on its
// port, with scheme (https with TLS). The development issuer lets the SPA
// client log in from them.
func apiOrigins(addr net.Addr, scheme string) []string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return nil
	}
	out := []string{scheme + "://localhost:" + port}
	if host != "localhost" {
		out = append(out, scheme+"://"+net.JoinHostPort(host, port))
	}
	return out
}
