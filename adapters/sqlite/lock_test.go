package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/sqlite"
)

// holdEnv makes the test binary the other process: it opens the database
// the variable names, says "open" (or the error) on stdout and holds the
// file until its stdin closes.
const holdEnv = "SQLITE_TEST_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("open")
		io.Copy(io.Discard, os.Stdin)
		db.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holder is another process (this test binary again) holding a database.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	line  string // its first line: "open", or "error: …"
}

func hold(t *testing.T, path string) *holder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case line := <-lines:
		return &holder{cmd: cmd, stdin: stdin, line: line}
	case <-time.After(30 * time.Second):
		t.Fatal("the other process said nothing in 30s")
		return nil
	}
}

// One process per SQLite file: while another process has it open, Open
// fails with an error that names the file and that process, and changes
// nothing; once that process ends, however it ends, the file opens.
func TestOneProcessPerFile(t *testing.T) {
	for _, end := range []string{"exits", "is killed"} {
		t.Run("the other process "+end, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "messages.db")
			other := hold(t, path)
			if other.line != "open" {
				t.Fatalf("the other process: %s", other.line)
			}

			_, err := sqlite.Open(context.Background(), path)
			var inUse *sqlite.InUseError
			if !errors.As(err, &inUse) || inUse.PID != other.cmd.Process.Pid {
				t.Fatalf("got %v, want an *InUseError naming pid %d", err, other.cmd.Process.Pid)
			}
			want := fmt.Sprintf("%s is in use by another process (pid %d); one process per SQLite file, use PostgreSQL for several instances", path, other.cmd.Process.Pid)
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}

			if end == "exits" {
				other.stdin.Close()
				if err := other.cmd.Wait(); err != nil {
					t.Fatalf("the other process: %v", err)
				}
			} else {
				other.cmd.Process.Signal(syscall.SIGKILL)
				other.cmd.Wait()
			}
			db, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatalf("after the other process %s: %v", end, err)
			}
			db.Close()
		})
	}
}

// This process holds the file: another process is refused, naming this
// one; a second Open in this process shares the lock, which is released
// only when the last DB closes.
func TestLockHeldUntilTheLastClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messages.db")
	a, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("a second Open in the same process: %v", err)
	}
	wantRefusal := fmt.Sprintf("error: %s is in use by another process (pid %d); one process per SQLite file, use PostgreSQL for several instances", path, os.Getpid())
	if got := hold(t, path).line; got != wantRefusal {
		t.Errorf("another process while this one holds the file:\n got %s\nwant %s", got, wantRefusal)
	}
	a.Close()
	if got := hold(t, path).line; got != wantRefusal {
		t.Errorf("another process after one of two closes:\n got %s\nwant %s", got, wantRefusal)
	}
	b.Close()
	if got := hold(t, path).line; got != "open" {
		t.Errorf("another process after both closed: got %s, want open", got)
	}
}
