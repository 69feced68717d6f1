package jwtverify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Metadata is the part of an OpenID Connect discovery (or RFC 8414)
// document the adapters use.
type Metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// discoveryURLs returns where to look for the issuer's metadata: OpenID
// Connect discovery first, then RFC 8414 §3 (well-known segment inserted
// between host and path).
func discoveryURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	path := strings.TrimSuffix(u.Path, "/")
	origin := u.Scheme + "://" + u.Host
	return []string{
		origin + path + "/.well-known/openid-configuration",
		origin + "/.well-known/oauth-authorization-server" + path,
	}
}

// sameIssuer reports whether a discovered issuer names the configured one.
// They must be equal, except that one may end with "/" and the other not.
func sameIssuer(configured, discovered string) bool {
	return strings.TrimSuffix(configured, "/") == strings.TrimSuffix(discovered, "/")
}

// discover fetches the issuer's metadata and checks it names the issuer
// and a usable jwks_uri.
func discover(ctx context.Context, client *http.Client, issuer string, tracer trace.Tracer) (Metadata, error) {
	md, from, err := discoverTraced(ctx, client, issuer, tracer)
	if err != nil {
		return Metadata{}, err
	}
	if _, err := CheckURL(md.JWKSURI); err != nil {
		return Metadata{}, fmt.Errorf("discovery: %s: jwks_uri: %w", from, err)
	}
	return md, nil
}

// Discover fetches an issuer's metadata — OpenID Connect discovery, then
// RFC 8414 — with client, and checks that it names the issuer (a trailing
// slash may differ). It returns the metadata and the URL it came from.
// Bodies are capped at MaxDocumentBytes.
func Discover(ctx context.Context, client *http.Client, issuer string) (Metadata, string, error) {
	return discoverTraced(ctx, client, issuer, nil)
}

// DiscoverTraced is Discover with a client span for each request, under
// the span in ctx, when tracer is set (nil: none).
func DiscoverTraced(ctx context.Context, client *http.Client, issuer string, tracer trace.Tracer) (Metadata, string, error) {
	return discoverTraced(ctx, client, issuer, tracer)
}

func discoverTraced(ctx context.Context, client *http.Client, issuer string, tracer trace.Tracer) (Metadata, string, error) {
	var errs []string
	for _, u := range discoveryURLs(issuer) {
		var md Metadata
		if err := getJSON(ctx, client, u, &md, tracer); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if !sameIssuer(issuer, md.Issuer) {
			return Metadata{}, u, fmt.Errorf("discovery: %s names issuer %q, not the configured %q", u, md.Issuer, issuer)
		}
		return md, u, nil
	}
	return Metadata{}, "", fmt.Errorf("discovery failed: %s", strings.Join(errs, "; "))
}

// getJSON GETs u and decodes its JSON body into v. Bodies over
// MaxDocumentBytes and statuses other than 200 are errors.
// With tracer set and a span in ctx, the request is a client span of its
// own, and carries its W3C traceparent.
func getJSON(ctx context.Context, client *http.Client, u string, v any, tracer trace.Tracer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	span := startHTTPSpan(tracer, req)
	resp, err := client.Do(req)
	endHTTPSpan(span, resp, err)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: reading body: %w", u, err)
	}
	if len(body) > MaxDocumentBytes {
		return fmt.Errorf("GET %s: body larger than %d bytes", u, MaxDocumentBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
