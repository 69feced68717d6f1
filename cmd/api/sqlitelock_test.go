package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
)

// Two processes on one SQLite file: the second stops at start-up with one
// line naming the file, DATABASE_URL and the first process, and serves
// nothing; once the first has stopped (gracefully, or killed), the file is
// free and the next start works, with the first one's messages.
func TestBinaryOneProcessPerSQLiteFile(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	path := filepath.Join(t.TempDir(), "messages.db")
	env := []string{"ISSUER_BASE_URL=" + iss.URL, "AUDIENCE=" + jwtverifytest.Audience, "ADDR=127.0.0.1:0", "DATABASE_URL=sqlite:" + path}
	token := iss.Token(iss.Claims("auth0|alice", "read:messages", "write:messages"))

	first, logs := startBinary(t, env...)
	base := logs.baseURL(t)
	waitStatus(t, base+"/readyz", 200)
	id := mustPost(t, base, token, "posted by the first process")

	second := exec.Command(binary(t))
	second.Env = append(env, "METRICS_ADDR=off")
	var stderr bytes.Buffer
	second.Stderr = &stderr
	err := second.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the second process: got %v, want exit status 1; stderr:\n%s", err, stderr.String())
	}
	want := fmt.Sprintf("api: DATABASE_URL: %s is in use by another process (pid %d); one process per SQLite file, use PostgreSQL for several instances\n",
		path, first.Process.Pid)
	if got := stderr.String(); got != want {
		t.Errorf("the second process's stderr:\n got %q\nwant %q", got, want)
	}
	// The first is unaffected.
	if !ids(listAll(t, base, token))[id] {
		t.Errorf("the first process lost its message")
	}

	for _, stop := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := first.Process.Signal(stop); err != nil {
			t.Fatal(err)
		}
		first.Wait()
		var logs *logBuffer
		first, logs = startBinary(t, env...)
		base = logs.baseURL(t)
		waitStatus(t, base+"/readyz", 200)
		if !ids(listAll(t, base, token))[id] {
			t.Errorf("after %v and a restart: the message is gone", stop)
		}
	}
}
