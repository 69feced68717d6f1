package main

import (
	"fmt"
	"net/url"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/jwtverify"
)

// metadataSettings are what the protected resource metadata (RFC 9728)
// and the OpenAPI document say of the API besides the route table.
func metadataSettings() []*setting {
	return []*setting{
		{flag: "resource-name", envs: []string{"RESOURCE_NAME"}, usage: "the API's name for people, resource_name in /.well-known/oauth-protected-resource and the title of /openapi.json (default: none, and spaapi)"},
		{flag: "resource-documentation", envs: []string{"RESOURCE_DOCUMENTATION"}, usage: "an http(s) URL of the API's documentation for developers, resource_documentation in /.well-known/oauth-protected-resource (default: none)"},
	}
}

// metadataConfig are the metadata settings, checked.
type metadataConfig struct {
	name, documentation string
	publicURL           string // PUBLIC_URL, "" when not set
}

// loadMetadata reads RESOURCE_NAME and RESOURCE_DOCUMENTATION (and
// PUBLIC_URL, checked by loadDPoP). Errors name the variable.
func loadMetadata(get getter) (metadataConfig, error) {
	var c metadataConfig
	var err error
	if c.name, _, err = get("resource-name"); err != nil {
		return c, err
	}
	doc, from, err := get("resource-documentation")
	if err != nil {
		return c, err
	}
	if doc != "" {
		if _, err := jwtverify.CheckURL(doc); err != nil {
			return c, fmt.Errorf("%s: %w", from, err)
		}
		c.documentation = doc
	}
	if c.publicURL, _, err = get("public-url"); err != nil {
		return c, err
	}
	return c, nil
}

// resolve is the metadata of the API trusting id (whose settings are
// final: -dev has pointed it at the development issuer).
//
// The resource identifier is the audience when there is one and it is an
// http(s) URL: what a client asks the authorization server for (Auth0's
// audience, RFC 8707's resource), so that the token it gets is one the
// API accepts. Else PUBLIC_URL; else each request's own origin.
//
// The authorization servers are the issuers the provider's settings name
// (AuthorizationServers, or Issuer for the providers that derive one
// issuer); where the provider fixes its endpoints (Endpoints: Auth0 and
// the development issuer) the OpenAPI document names them too.
func (c metadataConfig) resolve(id identity, version string) (httpapi.ResourceMetadata, error) {
	m := httpapi.ResourceMetadata{Name: c.name, Documentation: c.documentation, Version: version}
	audiences, _ := jwtverify.List(id.setting("audience"))
	switch {
	case len(audiences) == 1 && httpapi.CheckResource(audiences[0]) == nil:
		m.Resource = audiences[0]
	case c.publicURL != "":
		if err := httpapi.CheckResource(c.publicURL); err != nil {
			return m, fmt.Errorf("PUBLIC_URL: %w", err)
		}
		m.Resource = c.publicURL
	}
	var issuers []string
	switch cfg := id.config.(type) {
	case interface{ AuthorizationServers() []string }:
		issuers = cfg.AuthorizationServers()
	case interface{ Issuer() string }:
		issuers = []string{cfg.Issuer()}
	}
	endpoints, fixed := id.config.(interface {
		Endpoints(issuer string) (authorization, token string)
	})
	for _, iss := range issuers {
		if _, err := jwtverify.CheckURL(iss); err != nil {
			continue // not a URL a client could ask for tokens (static issuers)
		}
		as := httpapi.AuthorizationServer{Issuer: iss}
		if fixed {
			as.AuthorizationEndpoint, as.TokenEndpoint = endpoints.Endpoints(iss)
		}
		m.AuthorizationServers = append(m.AuthorizationServers, as)
	}
	return m, nil
}

// originWarning says why clients may discard the metadata, "" if they
// need not: a resource identifier (the audience) on another origin than
// PUBLIC_URL, the one clients call. RFC 9728 §3.3 has a client that
// followed a challenge's resource_metadata compare resource with the URL
// it called; the tokens are still accepted, only the discovery fails.
func (c metadataConfig) originWarning(resource string) string {
	if resource == "" || c.publicURL == "" {
		return ""
	}
	r, err1 := url.Parse(resource)
	p, err2 := url.Parse(c.publicURL)
	if err1 != nil || err2 != nil || (r.Scheme == p.Scheme && r.Host == p.Host) {
		return ""
	}
	return "the resource identifier (AUDIENCE) is not on PUBLIC_URL's origin: clients that check protected resource metadata as RFC 9728 says will not use it; give AUDIENCE the API's public URL"
}
