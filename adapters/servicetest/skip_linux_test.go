package servicetest_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// fixtures are two packages whose tests skip for want of "Example".
var fixtures = []string{"./testdata/one", "./testdata/two"}

const note = "go test: Example tests skipped (EXAMPLE_URL is not set); set EXAMPLE_URL=example://127.0.0.1:1\n"

// go test ./..., as a person runs it on a terminal: the note is on the
// terminal once for the whole run, although two packages skip and go test
// shows nothing either of them prints.
func TestSkipSaysHowOnceOnTheTerminal(t *testing.T) {
	tty, stdout, err := goTest(t, nil, append([]string{"test", "-count=1"}, fixtures...)...)
	if err != nil {
		t.Fatalf("go test: %v\n%s", err, stdout)
	}
	if tty != note {
		t.Errorf("terminal: got %q, want the note once: %q", tty, note)
	}
	for _, pkg := range []string{"one", "two"} {
		if !regexp.MustCompile(`(?m)^ok  \t\S+/adapters/servicetest/testdata/` + pkg + `\t`).MatchString(stdout) {
			t.Errorf("go test's output lacks ok for testdata/%s:\n%s", pkg, stdout)
		}
	}
	if strings.Contains(stdout, "EXAMPLE_URL") {
		t.Errorf("go test showed a passing package's output after all:\n%s", stdout)
	}
}

// With -v every skip says it: nothing more on the terminal.
func TestSkipVerbose(t *testing.T) {
	tty, stdout, err := goTest(t, nil, append([]string{"test", "-count=1", "-v"}, fixtures...)...)
	if err != nil {
		t.Fatalf("go test -v: %v\n%s", err, stdout)
	}
	if tty != "" {
		t.Errorf("terminal under -v: got %q, want nothing", tty)
	}
	if n := strings.Count(stdout, "EXAMPLE_URL is not set; set EXAMPLE_URL=example://127.0.0.1:1"); n != 4 {
		t.Errorf("go test -v shows the reason %d times, want 4 (one per skipped test):\n%s", n, stdout)
	}
}

// Under CI=true a missing service fails the tests.
func TestSkipFailsUnderCI(t *testing.T) {
	tty, stdout, err := goTest(t, []string{"CI=true"}, "test", "-count=1", fixtures[0])
	if err == nil {
		t.Fatalf("go test under CI=true passed:\n%s", stdout)
	}
	want := "EXAMPLE_URL is not set under CI=true, where the Example tests must run; set EXAMPLE_URL=example://127.0.0.1:1"
	if !strings.Contains(stdout, want) || !strings.Contains(stdout, "FAIL") {
		t.Errorf("go test under CI=true: got\n%s\nwant a failure saying %q", stdout, want)
	}
	if tty != "" {
		t.Errorf("terminal under CI=true: got %q, want nothing", tty)
	}
}

// goTest runs the go command with args in a new session whose controlling
// terminal is a fresh pseudo-terminal, with CI unset and extraEnv added.
// It returns what was written on the terminal (without the \r the
// terminal adds) and the go command's stdout and stderr.
func goTest(t *testing.T, extraEnv []string, args ...string) (tty, out string, err error) {
	t.Helper()
	ptmx, pts := openPTY(t)
	cmd := exec.Command("go", args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	var buf bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx) // EIO once the last process on the terminal is gone
		read <- strings.ReplaceAll(string(b), "\r", "")
	}()
	err = cmd.Wait()
	tty = <-read
	return tty, buf.String(), err
}

// openPTY opens a new pseudo-terminal: its master, and its slave to hand
// to the child (without making it this process's controlling terminal).
func openPTY(t *testing.T) (ptmx, pts *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	var unlock int32
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptmx, pts
}
