// Package servicetest is what the tests of outside services (PostgreSQL,
// Redis) share: without the service they skip, and say once how to run
// them where go test ./... shows it; under CI=true they fail instead.
//
// go test shows nothing a passing package prints (t.Skip's message
// included) unless it runs with -v or in the package's directory without
// package arguments: in package-list mode (go test ./...) it buffers each
// test binary's stdout and stderr and drops them when the package passes.
// So the note goes to the controlling terminal (/dev/tty), which go test
// does not capture, once per service and per go test run: the first test
// binary to tell makes a marker directory in go test's work directory
// (the test binary's grandparent, removed when go test ends). Without a
// terminal (CI, an IDE) the note goes to stderr, shown when the package
// fails or runs with -v. A cached result replays nothing: go test -count=1
// runs the tests, and says it, again.
package servicetest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Skip skips t because service is missing (reason says what is missing,
// how how to provide it), telling once, visibly, that the service's tests
// were skipped. Under CI=true it fails t instead: CI must run every test.
func Skip(t testing.TB, service, reason, how string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s under CI=true, where the %s tests must run; %s", reason, service, how)
	}
	if !testing.Verbose() { // -v (and -json) shows every skip's message
		tell(service, fmt.Sprintf("go test: %s tests skipped (%s); %s", service, reason, how))
	}
	t.Skipf("%s; %s", reason, how)
}

var told sync.Map // service name → true, in this test binary

// tell writes note on the terminal, if this is the first test binary of
// the go test run to tell about service.
func tell(service, note string) {
	if _, done := told.LoadOrStore(service, true); done || !firstInRun(service) {
		return
	}
	tty, err := openTTY()
	if err != nil {
		fmt.Fprintln(os.Stderr, note)
		return
	}
	defer tty.Close()
	fmt.Fprintln(tty, note)
}

// firstInRun reports whether no other test binary of this go test run has
// told about service. go test runs each test binary as $WORK/bNNN/x.test,
// $WORK being a go-build directory it removes when it ends; a binary run
// otherwise (go test -c, -o) always tells. (os.Mkdir, unlike os.Open and
// os.Stat, is not recorded as an input of the test result, which go test
// could then never cache.)
func firstInRun(service string) bool {
	exe, err := os.Executable()
	if err != nil {
		return true
	}
	work := filepath.Dir(filepath.Dir(exe))
	if !strings.HasPrefix(filepath.Base(work), "go-build") {
		return true
	}
	err = os.Mkdir(filepath.Join(work, "skipped-"+strings.ToLower(service)+"-tests"), 0o700)
	return !errors.Is(err, fs.ErrExist)
}
