package otlp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/otlp"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvOnOff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		on       bool
		endpoint string
	}{
		{"nothing set", nil, false, ""},
		{"only a service name", map[string]string{"OTEL_SERVICE_NAME": "x"}, false, ""},
		{"base endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, "http://collector:4318/v1/traces"},
		{"base endpoint with a slash", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/"}, true, "https://collector:4318/v1/traces"},
		{"traces endpoint wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/custom"}, true, "http://b:4318/custom"},
		{"exporter otlp alone", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, "http://localhost:4318/v1/traces"},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"}, false, ""},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, on, err := otlp.FromEnv(getenv(tc.env))
			if err != nil || on != tc.on || cfg.Endpoint != tc.endpoint {
				t.Fatalf("got %v %q %v, want %v %q", on, cfg.Endpoint, err, tc.on, tc.endpoint)
			}
		})
	}
}

func TestFromEnvValues(t *testing.T) {
	cfg, on, err := otlp.FromEnv(getenv(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://a:4318",
		"OTEL_EXPORTER_OTLP_HEADERS":         "api-key=s%20ecret,x-team=one",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":  "x-team=two",
		"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT":  "2500",
		"OTEL_EXPORTER_OTLP_COMPRESSION":     "gzip",
		"OTEL_TRACES_SAMPLER":                "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":            "0.01",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
	}))
	if err != nil || !on {
		t.Fatalf("got %v, %v", on, err)
	}
	if got := cfg.Headers.Get("Api-Key"); got != "s ecret" {
		t.Errorf("api-key: got %q, want %q", got, "s ecret")
	}
	if got := cfg.Headers.Get("X-Team"); got != "two" {
		t.Errorf("x-team: got %q, want the traces variable's two", got)
	}
	if cfg.Timeout != 2500*time.Millisecond || !cfg.Gzip {
		t.Errorf("timeout %v gzip %v, want 2.5s true", cfg.Timeout, cfg.Gzip)
	}
	if got := cfg.Sampler.Description(); !strings.Contains(got, "TraceIDRatioBased{0.01}") {
		t.Errorf("sampler: got %s", got)
	}
	if cfg.ServiceName != otlp.DefaultServiceName {
		t.Errorf("service name: got %q, want %q", cfg.ServiceName, otlp.DefaultServiceName)
	}
}

// Bad values stop start-up naming the variable, and never repeat a
// header's value.
func TestFromEnvErrors(t *testing.T) {
	const ep = "OTEL_EXPORTER_OTLP_ENDPOINT"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{ep: "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT: "},
		{map[string]string{ep: "ftp://collector"}, "OTEL_EXPORTER_OTLP_ENDPOINT: "},
		{map[string]string{ep: "http://user:pw@collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT: "},
		{map[string]string{ep: "http://a:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL: \"grpc\": only http/protobuf"},
		{map[string]string{ep: "http://a:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT: "},
		{map[string]string{ep: "http://a:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION: "},
		{map[string]string{ep: "http://a:4318", "OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER: "},
		{map[string]string{ep: "http://a:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG: "},
		{map[string]string{ep: "http://a:4318", "OTEL_EXPORTER_OTLP_HEADERS": "api-key"}, "OTEL_EXPORTER_OTLP_HEADERS: item 1"},
		{map[string]string{ep: "http://a:4318", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=%zzsecret"}, "OTEL_EXPORTER_OTLP_HEADERS: the value of api-key"},
		{map[string]string{ep: "http://a:4318", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/x.pem"}, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"},
		{map[string]string{ep: "http://a:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: "},
		{map[string]string{ep: "http://a:4318", "OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED: "},
	} {
		_, on, err := otlp.FromEnv(getenv(tc.env))
		if err == nil || on || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: got %v, %v; want an error starting %q", tc.env, on, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "pw") {
			t.Errorf("%v: the error repeats a secret: %v", tc.env, err)
		}
	}
}
