package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/postgres"
	"github.com/example/spaapi/adapters/postgres/postgrestest"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/messagestest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open opens the database at dbURL, closed when t ends.
func open(t *testing.T, dbURL string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dbURL, quiet)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// newest is the version of the newest migration file.
func newest(t *testing.T) int {
	t.Helper()
	v, err := postgres.SchemaVersion()
	if err != nil || v < 1 {
		t.Fatalf("SchemaVersion: %d, %v", v, err)
	}
	return v
}

func TestContract(t *testing.T) {
	postgrestest.Base(t)
	messagestest.Run(t, func(t *testing.T) ports.MessageStore {
		db := open(t, postgrestest.URL(t))
		if err := db.Ready(context.Background()); err != nil {
			t.Fatalf("Ready: %v", err)
		}
		return db.Messages()
	})
}

func message(t *testing.T, id string) domain.Message {
	t.Helper()
	m, err := domain.NewMessage(id, domain.Principal{Issuer: "https://i.example/", Subject: "ann"}, "hello "+id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Instances starting together against one database apply the migrations
// once, and none fails (without the advisory lock, concurrent CREATE
// TABLEs collide).
func TestConcurrentStartsMigrateOnce(t *testing.T) {
	dbURL := postgrestest.URL(t)
	const n = 6
	stores := make([]*postgres.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(context.Background(), dbURL, quiet)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		t.Cleanup(stores[i].Close)
		if err := stores[i].Ready(context.Background()); err != nil {
			t.Errorf("instance %d not ready: %v", i, err)
		}
	}
	if err := stores[0].Messages().Add(context.Background(), message(t, "a"), 10); err != nil {
		t.Fatal(err)
	}
	if got, err := stores[n-1].Messages().Get(context.Background(), "a"); err != nil || got.ID != "a" {
		t.Errorf("another instance: got %+v, %v", got, err)
	}
	// Count the migrations recorded, through a schema-qualified query.
	schema := mustQuery(t, dbURL, "search_path")
	postgrestest.Exec(t, dbURL, fmt.Sprintf(`DO $$ BEGIN IF (SELECT count(*) FROM %s.schema_migrations) <> %d THEN RAISE 'want %d rows'; END IF; END $$`, schema, newest(t), newest(t)))
}

func mustQuery(t *testing.T, dbURL, param string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(param)
}

func TestRefusesANewerSchema(t *testing.T) {
	dbURL := postgrestest.URL(t)
	open(t, dbURL)
	postgrestest.Exec(t, dbURL, `INSERT INTO schema_migrations (version, name) VALUES (99, '0099_future.sql')`)
	_, err := postgres.Open(context.Background(), dbURL, quiet)
	var se *postgres.SchemaError
	if !errors.As(err, &se) || se.Database != 99 || se.Known != newest(t) {
		t.Fatalf("got %v, want a *SchemaError for version 99", err)
	}
	if want := fmt.Sprintf("version 99, newer than this program knows (%d)", newest(t)); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func waitReady(t *testing.T, s ports.Readiness) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.Ready(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A database that is down at start-up: the store opens, says it is
// unavailable, and works by itself once the database is there; losing
// the database later is unavailable again, not an internal error.
func TestDatabaseDownAtStartAndBack(t *testing.T) {
	dbURL := postgrestest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := postgrestest.NewProxy(t, u.Host)
	u.Host = p.Addr
	password, _ := u.User.Password()

	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(b []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(b)
	}), nil))
	db, err := postgres.Open(context.Background(), u.String(), log)
	if err != nil {
		t.Fatalf("Open with the database down: %v", err)
	}
	t.Cleanup(db.Close)
	s := db.Messages()
	ctx := context.Background()
	checkUnavailable := func(when string) {
		t.Helper()
		if err := s.Ready(ctx); !errors.Is(err, domain.ErrUnavailable) {
			t.Errorf("%s: Ready: got %v, want ErrUnavailable", when, err)
		}
		err := s.Add(ctx, message(t, "x-"+when), 10)
		if !errors.Is(err, domain.ErrUnavailable) {
			t.Errorf("%s: Add: got %v, want ErrUnavailable", when, err)
		}
		if _, err := s.List(ctx, nil, 10); !errors.Is(err, domain.ErrUnavailable) {
			t.Errorf("%s: List: got %v, want ErrUnavailable", when, err)
		}
		if password != "" && err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("%s: an error contains the password", when)
		}
	}
	checkUnavailable("down at start")

	p.Up(t)
	waitReady(t, s)
	if err := s.Add(ctx, message(t, "a"), 10); err != nil {
		t.Fatalf("Add once up: %v", err)
	}

	p.Down()
	checkUnavailable("gone later")

	p.Up(t)
	waitReady(t, s)
	if got, err := s.Get(ctx, "a"); err != nil || got.ID != "a" {
		t.Errorf("after coming back: got %+v, %v", got, err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "database not reachable yet") {
		t.Errorf("no warning about the database in the log:\n%s", logs.String())
	}
	if password != "" && strings.Contains(logs.String(), password) {
		t.Errorf("the log contains the password:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func TestParseURLNeverRepeatsThePassword(t *testing.T) {
	for _, raw := range []string{
		"postgres://user:s3cr3t-pw@db.example:notaport/app",
		"postgres://user:s3cr3t-pw@db.example/app?sslmode=sometimes",
		"postgres://user:s3cr3t-pw@db.example/app?connect_timeout=x",
		"postgresql://user:s3cr3t-pw@[::1/app",
		"postgres://user:s3cr3t-pw@db.example/app\x7f",
		// url.Parse's detail would repeat part of these passwords.
		"postgres://user:s3cr3t-pw/x@db.example/app",
		"postgres://user:%zzs3cr3t-pw@db.example/app",
		// pgx reads a password from the query too.
		"postgres://db.example/app?password=s3cr3t-pw&sslmode=sometimes",
		"postgres://db.example/app?sslmode=sometimes&%70assword=s3cr3t%2Dpw",
	} {
		_, err := postgres.ParseURL(raw)
		if err == nil {
			t.Errorf("%q: accepted", raw)
			continue
		}
		for _, part := range []string{"s3cr3t", "%zz"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("error repeats the password (%s): %v", part, err)
			}
		}
	}
	for _, tc := range []struct{ raw, want string }{
		{"postgres://user:s3cr3t-pw/x@db.example/app",
			"not a valid URL (details not shown, they could repeat the password; percent-encode any @ : / ? # % in USER and PASSWORD)"},
		{"postgres://db.example/app?password=s3cr3t-pw&sslmode=sometimes",
			"postgres://db.example/app?password=xxxxx&sslmode=sometimes: settings not accepted: sslmode is invalid"},
		{"postgres://db.example:notaport/app", `not a valid URL: invalid port ":notaport" after host`},
	} {
		if _, err := postgres.ParseURL(tc.raw); err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v\nwant %s", tc.raw, err, tc.want)
		}
	}
	if got, err := postgres.ParseURL("postgres://db.example/app?sslmode=require&password=s3cr3t-pw"); err != nil || got != "postgres://db.example/app?sslmode=require&password=xxxxx" {
		t.Errorf("password parameter: got %q, %v", got, err)
	}
	got, err := postgres.ParseURL("postgres://user:s3cr3t-pw@db.example:5432/app?sslmode=require")
	if err != nil || strings.Contains(got, "s3cr3t-pw") || !strings.Contains(got, "db.example:5432/app") {
		t.Errorf("good URL: got %q, %v", got, err)
	}
}

func BenchmarkStore(b *testing.B) {
	messagestest.Benchmark(b, func(b *testing.B) ports.MessageStore {
		db, err := postgres.Open(context.Background(), postgrestest.URL(b), quiet)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(db.Close)
		return db.Messages()
	})
}
