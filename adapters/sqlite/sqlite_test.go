package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/sqlite"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/messagestest"
)

// open opens the database at path, closed when t ends, and returns its
// store of messages.
func open(t *testing.T, path string) *sqlite.Messages {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return messages(t, db)
}

func messages(t testing.TB, db *sqlite.DB) *sqlite.Messages {
	t.Helper()
	s, err := db.Messages(context.Background())
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	return s
}

// newest is the version of the newest migration file.
func newest(t *testing.T) int {
	t.Helper()
	v, err := sqlite.SchemaVersion()
	if err != nil || v < 1 {
		t.Fatalf("SchemaVersion: %d, %v", v, err)
	}
	return v
}

func TestContract(t *testing.T) {
	messagestest.Run(t, func(t *testing.T) ports.MessageStore {
		return open(t, filepath.Join(t.TempDir(), "messages.db"))
	})
}

func post(t *testing.T, s ports.MessageStore, id string) domain.Message {
	t.Helper()
	m, err := domain.NewMessage(id, domain.Principal{Issuer: "https://i.example/", Subject: "ann"}, "hello "+id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(context.Background(), m, 1000); err != nil {
		t.Fatalf("Add: %v", err)
	}
	return m
}

// Messages survive closing and reopening, which applies no migration twice.
func TestReopenKeepsMessages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "messages.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	post(t, messages(t, db), "a1")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	if got, err := s.Get(context.Background(), "a1"); err != nil || got.Text != "hello a1" {
		t.Errorf("after reopening: got %+v, %v", got, err)
	}
	rawDB := raw(t, path)
	var n int
	if err := rawDB.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != newest(t) {
		t.Errorf("schema_migrations: got %d rows, %v; want %d", n, err, newest(t))
	}
	var mode string
	if err := rawDB.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode: got %q, %v; want wal", mode, err)
	}
	for _, p := range []string{path, filepath.Dir(path)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, want no access for group and others", p, fi.Mode().Perm())
		}
	}
}

// raw opens the file directly, as an operator would.
func raw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messages.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := raw(t, path).Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future.sql', 'later')`); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(context.Background(), path)
	var se *sqlite.SchemaError
	if !errors.As(err, &se) || se.Database != 99 || se.Known != newest(t) {
		t.Fatalf("got %v, want a *SchemaError for version 99", err)
	}
	if want := fmt.Sprintf("version 99, newer than this program knows (%d)", newest(t)); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestRefusesBadPaths(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", ":memory:", filepath.Join(dir, "a?b.db"), filepath.Join(blocker, "messages.db")} {
		if db, err := sqlite.Open(context.Background(), path); err == nil {
			db.Close()
			t.Errorf("%q: opened, want an error", path)
		}
	}
}

// Two stores on one file, as two processes starting at once would be:
// both migrate without error, and the quota holds across them.
func TestTwoOpenersOfOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messages.db")
	dbs := make([]*sqlite.DB, 4)
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = sqlite.Open(context.Background(), path) })
	}
	wg.Wait()
	stores := make([]*sqlite.Messages, len(dbs))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("opener %d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
		stores[i] = messages(t, dbs[i])
	}
	ctx := context.Background()
	who := domain.Principal{Issuer: "https://i.example/", Subject: "ann"}
	for i := range 4 {
		m, err := domain.NewMessage(fmt.Sprint("pre", i), who, "hi", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := stores[0].Add(ctx, m, 5); err != nil {
			t.Fatal(err)
		}
	}
	errs = make([]error, len(stores))
	for i, s := range stores {
		m, err := domain.NewMessage(fmt.Sprint("race", i), who, "hi", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs[i] = s.Add(ctx, m, 5) })
	}
	wg.Wait()
	n := 0
	for i, err := range errs {
		switch {
		case err == nil:
			n++
		case !errors.Is(err, domain.ErrQuotaExceeded):
			t.Errorf("post through connection %d: got %v, want nil or ErrQuotaExceeded", i, err)
		}
	}
	if n != 1 {
		t.Errorf("%d of %d concurrent posts through separate connections succeeded at 4/5, want 1", n, len(stores))
	}
}

func BenchmarkStore(b *testing.B) {
	messagestest.Benchmark(b, func(b *testing.B) ports.MessageStore {
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "messages.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return messages(b, db)
	})
}

// The newest page is cached; every commit, by this store or another
// connection to the file, is seen at once all the same.
func TestNewestPageIsNeverStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messages.db")
	a, b := open(t, path), open(t, path)
	ctx := context.Background()
	newestIDs := func(s *sqlite.Messages) string {
		t.Helper()
		list, err := s.List(ctx, nil, 3)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range list {
			ids = append(ids, m.ID)
		}
		return strings.Join(ids, " ")
	}
	steps := []struct {
		do   func()
		want string
	}{
		{func() {}, ""},
		{func() { post(t, a, "m1") }, "m1"},
		{func() { post(t, b, "m2") }, "m2 m1"},
		{func() { post(t, a, "m3") }, "m3 m2 m1"},
		{func() { post(t, b, "m4") }, "m4 m3 m2"},
		{func() {
			if err := b.Delete(ctx, "m4"); err != nil {
				t.Fatal(err)
			}
		}, "m3 m2 m1"},
		{func() {
			if err := a.Delete(ctx, "m3"); err != nil {
				t.Fatal(err)
			}
		}, "m2 m1"},
	}
	for i, step := range steps {
		step.do()
		for name, s := range map[string]*sqlite.Messages{"a": a, "b": b} {
			for range 2 { // the second read comes from the cache
				if got := newestIDs(s); got != step.want {
					t.Errorf("step %d, store %s: got %q, want %q", i, name, got, step.want)
				}
			}
		}
	}
}

// Another process writing the file (here: a connection of its own) is
// seen within a fraction of a second.
func TestNewestPageSeesOtherWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messages.db")
	s := open(t, path)
	post(t, s, "m1")
	if list, err := s.List(context.Background(), nil, 10); err != nil || len(list) != 1 {
		t.Fatalf("got %v, %v", list, err)
	}
	db := raw(t, path)
	if _, err := db.Exec(`INSERT INTO messages (id, author_issuer, author, text, created_at) VALUES ('m2', 'https://i.example/', 'bob', 'from elsewhere', ?)`,
		time.Now().Add(time.Second).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		list, err := s.List(context.Background(), nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 2 && list[0].ID == "m2" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("another writer's message not listed after 2s: %v", list)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
