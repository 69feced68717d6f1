// Package two is a fixture of servicetest's test: two packages whose
// tests need a missing service, so that go test ./... would run both.
package two

import (
	"testing"

	"github.com/example/spaapi/adapters/servicetest"
)

func TestNeedsTheService(t *testing.T) {
	servicetest.Skip(t, "Example", "EXAMPLE_URL is not set", "set EXAMPLE_URL=example://127.0.0.1:1")
	t.Fatal("Skip returned")
}

func TestNeedsItToo(t *testing.T) {
	servicetest.Skip(t, "Example", "EXAMPLE_URL is not set", "set EXAMPLE_URL=example://127.0.0.1:1")
}

func TestPasses(t *testing.T) {}
