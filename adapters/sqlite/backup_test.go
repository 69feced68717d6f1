package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/sqlite"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// listIDs returns the IDs of every message in s.
func listIDs(t *testing.T, s ports.MessageStore) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	var after *domain.MessageKey
	for {
		page, err := s.List(context.Background(), after, 100)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, m := range page {
			out[m.ID] = true
		}
		if len(page) < 100 {
			return out
		}
		k := page[len(page)-1].Key()
		after = &k
	}
}

// A backup is taken while another process holds the database (and its
// lock): it is neither refused by the lock nor takes it (the other process
// still holds it afterwards), and the copy opens with every message.
func TestBackupWhileAnotherProcessHoldsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "messages.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s := messages(t, db)
	want := map[string]bool{}
	for i := range 25 {
		want[post(t, s, fmt.Sprintf("m%02d", i)).ID] = true
	}
	db.Close()

	other := hold(t, path)
	if other.line != "open" {
		t.Fatalf("the other process: %s", other.line)
	}
	dest := filepath.Join(dir, "backup.db")
	res, err := sqlite.Backup(context.Background(), path, dest)
	if err != nil {
		t.Fatalf("Backup while another process holds the file: %v", err)
	}
	if res.Dest != dest || res.Bytes <= 0 {
		t.Errorf("result: got %+v, want Dest %s and a size", res, dest)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the copy's mode: got %v, want 0600 (private, as the database)", fi.Mode().Perm())
	}
	// The other process still holds the lock.
	if _, err := sqlite.Open(context.Background(), path); !errors.As(err, new(*sqlite.InUseError)) {
		t.Errorf("Open after the backup: got %v, want an *InUseError (the other process's lock)", err)
	}
	if err := sqlite.IntegrityCheck(context.Background(), dest); err != nil {
		t.Errorf("the copy: %v", err)
	}
	if got := listIDs(t, open(t, dest)); len(got) != len(want) {
		t.Errorf("the copy has %d messages, want %d", len(got), len(want))
	} else {
		for id := range want {
			if !got[id] {
				t.Errorf("the copy lacks %s", id)
			}
		}
	}
	// No temporary file is left beside it.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// Posts go on while the backup runs: the copy is one snapshot, so it
// holds every message acknowledged before the backup started, and the
// messages it holds are exactly the first N posted (posted one after the
// other), never a later one without an earlier.
func TestBackupIsASnapshotWhileWritesGoOn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "messages.db")
	s := open(t, path)
	author := domain.Principal{Issuer: "https://i.example/", Subject: "ann"}
	var acked atomic.Int64 // messages 0..acked-1 are stored
	add := func(i int64) error {
		m, err := domain.NewMessage(fmt.Sprintf("m%06d", i), author, "hello", time.Now())
		if err != nil {
			return err
		}
		return s.Add(context.Background(), m, 1_000_000)
	}
	for i := range int64(200) {
		if err := add(i); err != nil {
			t.Fatal(err)
		}
		acked.Store(i + 1)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := acked.Load(); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := add(i); err != nil {
				t.Errorf("Add during the backup: %v", err)
				return
			}
			acked.Store(i + 1)
		}
	})
	time.Sleep(50 * time.Millisecond) // posts under way
	before := acked.Load()
	dest := filepath.Join(dir, "backup.db")
	_, err := sqlite.Backup(context.Background(), path, dest)
	after := acked.Load()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if after == before {
		t.Fatalf("no post was acknowledged while the backup ran (%d before and after): the test shows nothing", before)
	}

	got := listIDs(t, open(t, dest))
	n := int64(len(got))
	if n < before {
		t.Errorf("the copy has %d messages, but %d were acknowledged before the backup started", n, before)
	}
	for i := range n {
		if id := fmt.Sprintf("m%06d", i); !got[id] {
			t.Errorf("the copy holds %d messages but lacks %s: not one snapshot", n, id)
		}
	}
	t.Logf("%d acknowledged when the backup started, %d when it ended; the copy holds %d", before, after, n)
}

// A backup never overwrites a file, not even an empty one, and refuses a
// file that is not a database, a missing one and the database itself as
// its destination; each refusal leaves nothing behind.
func TestBackupRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "messages.db")
	post(t, open(t, path), "m1")

	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src, dest, want string
		is                    error
	}{
		{"an existing destination", path, existing, "existing.db: file already exists (a backup never overwrites a file; name a new one)", fs.ErrExist},
		{"the database itself", path, path, "is the database itself", nil},
		{"a missing database", filepath.Join(dir, "missing.db"), filepath.Join(dir, "b1.db"), "no such file or directory", fs.ErrNotExist},
		{"not a database", junk, filepath.Join(dir, "b2.db"), "file is not a database", nil},
		{"a destination in a missing folder", path, filepath.Join(dir, "nope", "b3.db"), "no such file or directory", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadDir(dir)
			_, err := sqlite.Backup(context.Background(), tc.src, tc.dest)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want it to be %v", err, tc.is)
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Errorf("files before: %v; after: %v", names(before), names(after))
			}
		})
	}
	if b, _ := os.ReadFile(existing); len(b) != 0 {
		t.Errorf("the existing file was written to (%d bytes)", len(b))
	}
}

func names(es []os.DirEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
