package main

import (
	"os/exec"
	"strings"
	"testing"
)

// go-jose is in go.mod only for the differential test of adapters/jwtverify
// (a _test.go file, built with -tags differential), kin-openapi only for
// the tests of adapters/httpapi's OpenAPI document: the binary must not
// link them, with or without the tag.
func TestBinaryDoesNotLinkTestOnlyModules(t *testing.T) {
	for _, tags := range []string{"", "differential"} {
		out, err := exec.Command("go", "list", "-deps", "-tags", tags, ".").Output()
		if err != nil {
			t.Fatal(err)
		}
		deps := string(out)
		if !strings.Contains(deps, "github.com/example/spaapi/adapters/jwtverify\n") {
			t.Fatalf("go list -deps -tags %q looks wrong (no jwtverify):\n%s", tags, deps)
		}
		for _, module := range []string{"go-jose", "kin-openapi"} {
			if strings.Contains(deps, module) {
				t.Errorf("with -tags %q, cmd/api links %s", tags, module)
			}
		}
		// The OpenTelemetry Collector's receiver is the traces tests'
		// peer; the exporter speaks OTLP/HTTP, so gRPC has no business
		// in the binary either (adapters/otlp).
		for _, mod := range []string{"go.opentelemetry.io/collector/", "google.golang.org/grpc"} {
			if strings.Contains(deps, mod) {
				t.Errorf("with -tags %q, cmd/api links %s", tags, mod)
			}
		}
	}
}
