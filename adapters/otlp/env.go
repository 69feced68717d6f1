package otlp

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES names one.
const DefaultServiceName = "spaapi"

// defaultEndpoint is where OTEL_TRACES_EXPORTER=otlp alone sends spans:
// a collector on this host (the OpenTelemetry default for OTLP/HTTP).
const defaultEndpoint = "http://localhost:4318/v1/traces"

// FromEnv reads the standard OpenTelemetry variables (the specification's
// names and formats) that choose and configure the trace exporter. on is
// false, with no error, unless an endpoint is set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or
// OTEL_TRACES_EXPORTER=otlp asks for the default one; OTEL_SDK_DISABLED=true
// and OTEL_TRACES_EXPORTER=none turn tracing off whatever else is set.
// Errors name the variable and never repeat a header's value.
//
//	OTEL_EXPORTER_OTLP_ENDPOINT          base URL; spans go to its /v1/traces
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   the traces URL itself (wins)
//	OTEL_EXPORTER_OTLP_PROTOCOL          http/protobuf only (also _TRACES_)
//	OTEL_EXPORTER_OTLP_HEADERS           key=value,... sent with each export (also _TRACES_)
//	OTEL_EXPORTER_OTLP_TIMEOUT           milliseconds per export (default 10000; also _TRACES_)
//	OTEL_EXPORTER_OTLP_COMPRESSION       gzip or none (also _TRACES_)
//	OTEL_EXPORTER_OTLP_CERTIFICATE       CA file for an https endpoint (also _TRACES_)
//	OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_KEY   mutual TLS (also _TRACES_)
//	OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG   which traces are kept
//	OTEL_SERVICE_NAME                    service.name (default spaapi)
//	OTEL_TRACES_EXPORTER                 otlp or none
//	OTEL_SDK_DISABLED                    true turns tracing off
func FromEnv(getenv func(string) string) (cfg Config, on bool, err error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	switch v := strings.ToLower(get("OTEL_SDK_DISABLED")); v {
	case "", "false":
	case "true":
		return Config{}, false, nil
	default:
		return Config{}, false, fmt.Errorf("OTEL_SDK_DISABLED: %q is not true or false", v)
	}
	exporter := get("OTEL_TRACES_EXPORTER")
	switch exporter {
	case "", "otlp":
	case "none":
		return Config{}, false, nil
	default:
		return Config{}, false, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not otlp or none (traces go over OTLP/HTTP or nowhere)", exporter)
	}
	// signal returns the traces variable if set, else the general one,
	// and the name of the one it read.
	signal := func(suffix string) (string, string) {
		name := "OTEL_EXPORTER_OTLP_TRACES_" + suffix
		if v := get(name); v != "" {
			return v, name
		}
		name = "OTEL_EXPORTER_OTLP_" + suffix
		return get(name), name
	}

	if v := get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		if cfg.Endpoint, err = endpointURL(v); err != nil {
			return Config{}, false, fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: %w", err)
		}
	} else if v := get("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
		base, err := endpointURL(v)
		if err != nil {
			return Config{}, false, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
		}
		cfg.Endpoint = strings.TrimSuffix(base, "/") + "/v1/traces"
	} else if exporter == "otlp" {
		cfg.Endpoint = defaultEndpoint
	} else {
		return Config{}, false, nil
	}

	if v, name := signal("PROTOCOL"); v != "" && v != "http/protobuf" {
		hint := ""
		if v == "grpc" {
			hint = " (gRPC is not supported; point the endpoint at the collector's OTLP/HTTP port, 4318 by default)"
		}
		return Config{}, false, fmt.Errorf("%s: %q: only http/protobuf is supported%s", name, v, hint)
	}
	if cfg.Headers, err = headers(get("OTEL_EXPORTER_OTLP_HEADERS"), "OTEL_EXPORTER_OTLP_HEADERS", nil); err != nil {
		return Config{}, false, err
	}
	if cfg.Headers, err = headers(get("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), "OTEL_EXPORTER_OTLP_TRACES_HEADERS", cfg.Headers); err != nil {
		return Config{}, false, err
	}
	cfg.Timeout = DefaultTimeout
	if v, name := signal("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 || ms > 600_000 {
			return Config{}, false, fmt.Errorf("%s: %q is not a number of milliseconds from 1 to 600000", name, v)
		}
		cfg.Timeout = time.Duration(ms) * time.Millisecond
	}
	switch v, name := signal("COMPRESSION"); v {
	case "", "none":
	case "gzip":
		cfg.Gzip = true
	default:
		return Config{}, false, fmt.Errorf("%s: %q is not gzip or none", name, v)
	}
	if cfg.TLS, err = tlsConfig(signal); err != nil {
		return Config{}, false, err
	}
	if cfg.Sampler, err = sampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return Config{}, false, err
	}
	cfg.ServiceName = get("OTEL_SERVICE_NAME")
	if cfg.ServiceName == "" && !strings.Contains(get("OTEL_RESOURCE_ATTRIBUTES"), "service.name=") {
		cfg.ServiceName = DefaultServiceName
	}
	return cfg, true, nil
}

// endpointURL checks an endpoint: an absolute http or https URL without
// user info or fragment.
func endpointURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL like http://collector:4318", Redacted(v))
	}
	if u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("%q: no user info or fragment (headers go in OTEL_EXPORTER_OTLP_HEADERS)", u.Redacted())
	}
	return u.String(), nil
}

// headers parses a headers variable, key=value pairs separated by commas
// with values percent-encoded (the W3C Baggage format the specification
// names), on top of h. Errors say where, never what: values hold API keys.
func headers(v, name string, h http.Header) (http.Header, error) {
	if v == "" {
		return h, nil
	}
	if h == nil {
		h = http.Header{}
	}
	for i, pair := range strings.Split(v, ",") {
		key, value, ok := strings.Cut(pair, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t\r\n:") {
			return nil, fmt.Errorf("%s: item %d is not key=value", name, i+1)
		}
		value, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil || strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("%s: the value of %s is not percent-encoded text", name, key)
		}
		h.Set(key, value)
	}
	return h, nil
}

// tlsConfig reads the certificate variables: nil when none is set.
func tlsConfig(signal func(string) (string, string)) (*tls.Config, error) {
	ca, caName := signal("CERTIFICATE")
	cert, certName := signal("CLIENT_CERTIFICATE")
	key, keyName := signal("CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", caName, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", caName, ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("%s and %s: set both, or neither", certName, keyName)
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s and %s: %w", certName, keyName, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// sampler reads OTEL_TRACES_SAMPLER and its argument, a ratio for the
// traceidratio samplers (default 1.0).
func sampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := 1.0
	if arg != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: %q is not a ratio from 0 to 1", arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio", name)
}
