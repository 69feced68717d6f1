package main

import (
	"os/exec"
	"strings"
	"testing"
)

// go-jose is in go.mod only for the differential test of adapters/jwtverify
// (a _test.go file, built with -tags differential): the binary must not
// link it, with or without the tag.
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
		if strings.Contains(deps, "go-jose") {
			t.Errorf("with -tags %q, cmd/api links go-jose", tags)
		}
	}
}
