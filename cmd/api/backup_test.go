package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/adapters/sqlite"
)

// backupCommand runs `api backup args...` as its own process with env and
// returns its exit code, stdout and stderr.
func backupCommand(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"backup"}, args...)...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("api backup: %v", err)
	return 0, "", ""
}

// A backup of a running server's SQLite file, taken by another process
// while posts go on, restores: a new server started on the copy lists
// every message acknowledged before the backup started, and the copy
// passes PRAGMA integrity_check. The running server keeps its lock and
// keeps serving throughout.
func TestBinaryBackupWhileServing(t *testing.T) {
	iss := jwtverifytest.NewIssuer(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "messages.db")
	env := []string{"ISSUER_BASE_URL=" + iss.URL, "AUDIENCE=" + jwtverifytest.Audience, "ADDR=127.0.0.1:0",
		"DATABASE_URL=sqlite:" + path, "MESSAGES_PER_USER=1000000"}
	token := iss.Token(iss.Claims("auth0|writer", "read:messages", "write:messages"))

	_, logs := startBinary(t, env...)
	base := logs.baseURL(t)
	waitStatus(t, base+"/readyz", 200)
	for i := range 50 {
		mustPost(t, base, token, fmt.Sprintf("before %d", i))
	}

	// One writer posts without pause until told to stop, noting each
	// acknowledged message.
	var (
		mu    sync.Mutex
		acked []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			status, id, err := postMessage(base, token, fmt.Sprintf("during %d", i))
			if err != nil || status != 201 {
				t.Errorf("POST during the backup: %d, %v", status, err)
				return
			}
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
		}
	})
	ackedNow := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), acked...)
	}
	waitUntil(t, func() bool { return len(ackedNow()) >= 20 })

	dest := filepath.Join(dir, "backup.db")
	before := ackedNow()
	code, stdout, stderr := backupCommand(t, append(os.Environ(), "DATABASE_URL=sqlite:"+path), dest)
	during := len(ackedNow()) - len(before)
	waitUntil(t, func() bool { return len(ackedNow()) >= len(before)+during+5 }) // the server still takes posts
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("api backup: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if want := fmt.Sprintf("backed up sqlite:%s to %s (", path, dest); !strings.HasPrefix(stdout, want) || !strings.HasSuffix(stdout, " bytes, integrity_check ok)\n") {
		t.Errorf("stdout: got %q, want %q…bytes, integrity_check ok)", stdout, want)
	}
	t.Logf("%d posts acknowledged while the backup ran", during)

	if err := sqlite.IntegrityCheck(context.Background(), dest); err != nil {
		t.Errorf("the backup: %v", err)
	}

	// A second server on the copy (the first one keeps its own file).
	_, restoredLogs := startBinary(t, "ISSUER_BASE_URL="+iss.URL, "AUDIENCE="+jwtverifytest.Audience, "ADDR=127.0.0.1:0",
		"DATABASE_URL=sqlite:"+dest)
	restored := restoredLogs.baseURL(t)
	waitStatus(t, restored+"/readyz", 200)
	got := ids(listAll(t, restored, token))
	missing := 0
	for _, id := range before {
		if !got[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("the restored server lacks %d of the %d posts acknowledged before the backup started", missing, len(before))
	}
	if len(got) < 50+len(before) {
		t.Errorf("the restored server lists %d messages, want at least %d", len(got), 50+len(before))
	}
}

// waitUntil polls cond for up to 20 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// What api backup refuses, with exit status 1 and one line saying why;
// the file it was asked to write is left as it was.
func TestBackupCommandRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "messages.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"HOME=" + dir}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no destination", []string{"DATABASE_URL=sqlite:" + path}, nil,
			"api: backup: name one destination file, e.g. api backup /var/backups/messages-$(date +%F).db\n"},
		{"two destinations", []string{"DATABASE_URL=sqlite:" + path}, []string{"a.db", "b.db"},
			"api: backup: name one destination file, e.g. api backup /var/backups/messages-$(date +%F).db\n"},
		{"an existing destination", []string{"DATABASE_URL=sqlite:" + path}, []string{existing},
			"api: backup: sqlite: backup: " + existing + ": file already exists (a backup never overwrites a file; name a new one)\n"},
		{"PostgreSQL", []string{"DATABASE_URL=postgres://u:secret@db.example/spaapi"}, []string{filepath.Join(dir, "b.db")},
			"api: backup: DATABASE_URL names a PostgreSQL database: back it up with PostgreSQL's own tools, e.g. pg_dump --format=custom --file=spaapi.dump \"$DATABASE_URL\"; api backup copies SQLite files\n"},
		{"memory", []string{"DATABASE_URL=memory:"}, []string{filepath.Join(dir, "b.db")},
			"api: backup: DATABASE_URL is memory:: the messages are in the server's memory only, there is no file to back up\n"},
		{"no database file", []string{"DATABASE_URL=sqlite:" + filepath.Join(dir, "missing.db")}, []string{filepath.Join(dir, "b.db")},
			"api: backup: DATABASE_URL: sqlite:" + filepath.Join(dir, "missing.db") + ": no database file there; set DATABASE_URL as the server has it\n"},
		{"a bad DATABASE_URL", []string{"DATABASE_URL=mysql://x"}, []string{filepath.Join(dir, "b.db")},
			"api: backup: DATABASE_URL: \"mysql:\" is not a supported database: use sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := backupCommand(t, append(base, tc.env...), tc.args...)
			if code != 1 || stdout != "" || stderr != tc.want {
				t.Errorf("got exit %d, stdout %q, stderr:\n%q\nwant exit 1, no stdout, stderr:\n%q", code, stdout, stderr, tc.want)
			}
			if strings.Contains(stderr, "secret") {
				t.Errorf("the password is in the message: %s", stderr)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file: got %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.db")); err == nil {
		t.Errorf("a refused backup wrote b.db")
	}
}
