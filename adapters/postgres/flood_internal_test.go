package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/spaapi/adapters/postgres/postgrestest"
	"github.com/example/spaapi/domain"
)

// These tests build what one author flooding the API does to the pool:
// many concurrent posts of one author, while another author reads and
// posts. They run against the real PostgreSQL of TEST_DATABASE_URL.

const floodIssuer = "https://flood.example/"

var (
	quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))
	msgSeq   atomic.Int64
)

// openDB opens the database at dbURL with a pool of maxConns, ready and
// with every connection of the pool open (so that an acquisition that
// finds none idle means they are all taken), closed when t ends.
func openDB(t *testing.T, dbURL string, maxConns int) *DB {
	t.Helper()
	db, err := Open(context.Background(), dbURL, Options{MaxConns: maxConns}, quietLog)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	if err := db.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if got := db.pool.Stat().MaxConns(); got != int32(maxConns) {
		t.Fatalf("pool of %d connections, want %d", got, maxConns)
	}
	var conns []interface{ Release() }
	for range maxConns {
		c, err := db.pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	return db
}

// uniqueSubject is an author no other test (on the shared server, whose
// advisory locks are database-wide) uses.
func uniqueSubject(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return name + "-" + hex.EncodeToString(b[:])
}

// post is a new message by sub.
func post(sub string) domain.Message {
	m, err := domain.NewMessage(fmt.Sprintf("%024x", msgSeq.Add(1)), domain.Principal{Issuer: floodIssuer, Subject: sub}, "hello", time.Now())
	if err != nil {
		panic(err) // a valid message by construction
	}
	return m
}

// lockWaits returns how many sessions wait for the author lock of sub,
// and how many hold it (asking through conn).
func lockWaits(ctx context.Context, conn *pgx.Conn, sub string) (waiting, holding int, err error) {
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT granted), count(*) FILTER (WHERE granted)
		FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = hashtext($2::text || ' ' || $3::text)::oid AND objsubid = 2`,
		int64(authorLocks), floodIssuer, sub).Scan(&waiting, &holding)
	return waiting, holding, err
}

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func countBy(t *testing.T, conn *pgx.Conn, sub string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE author_issuer = $1 AND author = $2`, floodIssuer, sub).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// While another instance holds an author's lock, that author's posts in
// this one hold one pooled connection between them (the others wait in
// the gate): another author reads and posts, a waiter whose client gives
// up leaves without ever taking a connection, and once the lock is free
// the posts go through one at a time, exactly up to the quota.
func TestAuthorWaitingForItsLockHoldsOneConnection(t *testing.T) {
	dbURL := postgrestest.URL(t)
	const poolSize, posts, quota = 4, 20, 10
	db := openDB(t, dbURL, poolSize)
	emptyBefore := db.pool.Stat().EmptyAcquireCount()
	s := db.Messages()
	flooder, other := uniqueSubject("flooder"), uniqueSubject("other")

	// "Another instance" holds the flooder's lock.
	holder := connect(t, dbURL)
	ctx := context.Background()
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, hashtext($2::text || ' ' || $3::text))`, authorLocks, floodIssuer, flooder); err != nil {
		t.Fatal(err)
	}

	errs := make(chan error, posts)
	for range posts {
		go func() { errs <- s.Add(ctx, post(flooder), quota) }()
	}
	watcher := connect(t, dbURL)
	waitFor(t, fmt.Sprintf("%d posts in the gate and one at the lock", posts-1), func() bool {
		w, _, err := lockWaits(ctx, watcher, flooder)
		return err == nil && w == 1 && db.owners.stats().waiting == posts-1
	})
	if got := db.pool.Stat().AcquiredConns(); got != 1 {
		t.Errorf("%d posts of one author waiting for its lock hold %d connections, want 1", posts, got)
	}

	// A waiter whose client goes away leaves the gate, and never took a
	// connection.
	acquired := db.pool.Stat().AcquireCount()
	giveUp, cancel := context.WithCancel(ctx)
	gone := make(chan error)
	go func() { gone <- s.Add(giveUp, post(flooder), quota) }()
	waitFor(t, "one more waiter", func() bool { return db.owners.stats().waiting == posts })
	cancel()
	select {
	case err := <-gone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("canceled post: got %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a canceled post did not return")
	}
	if got := db.owners.stats().waiting; got != posts-1 {
		t.Errorf("after the cancel %d wait in the gate, want %d", got, posts-1)
	}
	if got := db.pool.Stat().AcquireCount(); got != acquired {
		t.Errorf("the canceled waiter acquired %d connections, want none", got-acquired)
	}

	// Everyone else is served meanwhile, from the rest of the pool.
	for i := range 3 {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m := post(other)
		if err := s.Add(ctx, m, quota); err != nil {
			t.Errorf("another author's post %d: %v", i, err)
		}
		if _, err := s.List(ctx, nil, 50); err != nil {
			t.Errorf("a list: %v", err)
		}
		if _, err := s.Get(ctx, m.ID); err != nil {
			t.Errorf("a get: %v", err)
		}
		cancel()
	}
	if got := db.pool.Stat().EmptyAcquireCount() - emptyBefore; got != 0 {
		t.Errorf("%d acquisitions found the pool empty, want none", got)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var stored, refused int
	for range posts {
		select {
		case err := <-errs:
			switch {
			case err == nil:
				stored++
			case errors.Is(err, domain.ErrQuotaExceeded):
				refused++
			default:
				t.Errorf("post: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("posts did not finish once the lock was free")
		}
	}
	if stored != quota || refused != posts-quota {
		t.Errorf("got %d stored and %d refused, want %d and %d", stored, refused, quota, posts-quota)
	}
	if got := countBy(t, watcher, flooder); got != quota {
		t.Errorf("the author keeps %d messages, want the quota %d", got, quota)
	}
	if st := db.owners.stats(); st.owners != 0 || st.waiting != 0 {
		t.Errorf("the gate after the flood: %+v, want empty", st)
	}
}

// One author floods two instances (two pools on one database) with
// concurrent posts far past its quota, while another author reads and
// posts through a pool of 4: the quota holds exactly across instances,
// the flooder never has more than one session per instance at its lock,
// and no acquisition ever finds the pool empty.
func TestOneAuthorsFloodLeavesThePoolToOthers(t *testing.T) {
	dbURL := postgrestest.URL(t)
	const poolSize, flooders, postsEach, quota = 4, 64, 15, 100
	a, b := openDB(t, dbURL, poolSize), openDB(t, dbURL, poolSize)
	flooder, other := uniqueSubject("flooder"), uniqueSubject("other")
	ctx := context.Background()
	emptyBefore := a.pool.Stat().EmptyAcquireCount() + b.pool.Stat().EmptyAcquireCount()

	var stored, refused atomic.Int64
	var flood sync.WaitGroup
	for i := range flooders {
		s := a.Messages()
		if i%2 == 1 {
			s = b.Messages()
		}
		flood.Go(func() {
			for range postsEach {
				switch err := s.Add(ctx, post(flooder), quota); {
				case err == nil:
					stored.Add(1)
				case errors.Is(err, domain.ErrQuotaExceeded):
					refused.Add(1)
				default:
					t.Errorf("flooder's post: %v", err)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { flood.Wait(); close(done) }()

	// Meanwhile: the most connections a's pool lends at once, and the most
	// sessions at the flooder's lock, sampled; another author's reads and
	// posts, each with a deadline.
	var most struct {
		sync.Mutex
		acquired       int32
		waiting, total int
	}
	var watch sync.WaitGroup
	watcher := connect(t, dbURL)
	watch.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			w, h, err := lockWaits(ctx, watcher, flooder)
			if err != nil {
				t.Errorf("pg_locks: %v", err)
				return
			}
			most.Lock()
			most.acquired = max(most.acquired, a.pool.Stat().AcquiredConns())
			most.waiting, most.total = max(most.waiting, w), max(most.total, w+h)
			most.Unlock()
		}
	})
	var reads, posts int
	others := a.Messages()
	for {
		select {
		case <-done:
		default:
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			if _, err := others.List(c, nil, 50); err != nil {
				t.Errorf("another author's list during the flood: %v", err)
			}
			if posts < quota {
				if err := others.Add(c, post(other), quota); err != nil {
					t.Errorf("another author's post during the flood: %v", err)
				}
				posts++
			}
			cancel()
			reads++
			continue
		}
		break
	}
	watch.Wait()

	if got := stored.Load(); got != quota {
		t.Errorf("%d posts stored, want the quota %d", got, quota)
	}
	if got := refused.Load(); got != flooders*postsEach-quota {
		t.Errorf("%d posts refused, want %d", got, flooders*postsEach-quota)
	}
	if got := countBy(t, watcher, flooder); got != quota {
		t.Errorf("the flooder keeps %d messages, want the quota %d", got, quota)
	}
	// a's pool: the flooder's one, the other author's one, the sampler's
	// Stat call racing a release.
	if most.acquired > 2 {
		t.Errorf("a's pool lent up to %d connections at once, want at most 2 (one for the flooder, one for the other author)", most.acquired)
	}
	if most.waiting > 1 || most.total > 2 {
		t.Errorf("up to %d sessions waited for the flooder's lock (%d at it), want at most 1 (2): one per instance", most.waiting, most.total)
	}
	if got := a.pool.Stat().EmptyAcquireCount() + b.pool.Stat().EmptyAcquireCount() - emptyBefore; got != 0 {
		t.Errorf("%d acquisitions found a pool empty during the flood, want none", got)
	}
	if a.owners.stats().waited == 0 || b.owners.stats().waited == 0 {
		t.Errorf("no post waited in a gate (a %+v, b %+v): the flood did not contend", a.owners.stats(), b.owners.stats())
	}
	for _, db := range []*DB{a, b} {
		if st := db.owners.stats(); st.owners != 0 || st.waiting != 0 {
			t.Errorf("a gate after the flood: %+v, want empty", st)
		}
	}
	t.Logf("during the flood: %d lists and %d posts by another author; a's pool lent at most %d; at most %d waited at the flooder's lock",
		reads, posts, most.acquired, most.waiting)
}

// A post that waited for its author's lock sees what the holder
// committed meanwhile, even where the database's default isolation is
// REPEATABLE READ (whose snapshot would be taken before the wait): at
// the quota, it is refused.
func TestPostAfterWaitingSeesWhatTheHolderCommitted(t *testing.T) {
	for _, isolation := range []string{"read committed", "repeatable read", "serializable"} {
		t.Run(isolation, func(t *testing.T) {
			dbURL := postgrestest.URL(t) + "&default_transaction_isolation=" + url.PathEscape(isolation)
			db := openDB(t, dbURL, 2)
			s := db.Messages()
			sub := uniqueSubject("author")
			ctx := context.Background()
			const quota = 3
			for range quota - 1 {
				if err := s.Add(ctx, post(sub), quota); err != nil {
					t.Fatal(err)
				}
			}
			// "Another instance" takes the lock and posts the last one the
			// quota allows, and commits once this one waits for the lock.
			holder := connect(t, dbURL)
			tx, err := holder.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, hashtext($2::text || ' ' || $3::text))`, authorLocks, floodIssuer, sub); err != nil {
				t.Fatal(err)
			}
			last := post(sub)
			if _, err := tx.Exec(ctx, `INSERT INTO messages (`+messageColumns+`) VALUES ($1, $2, $3, $4, $5)`,
				last.ID, last.AuthorIssuer, last.Author, last.Text, last.CreatedAt); err != nil {
				t.Fatal(err)
			}
			done := make(chan error)
			go func() { done <- s.Add(ctx, post(sub), quota) }()
			watcher := connect(t, dbURL)
			waitFor(t, "the post to wait for the lock", func() bool {
				w, _, err := lockWaits(ctx, watcher, sub)
				return err == nil && w == 1
			})
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, domain.ErrQuotaExceeded) {
				t.Errorf("a post after the quota was reached while it waited: got %v, want ErrQuotaExceeded", err)
			}
			if got := countBy(t, watcher, sub); got != quota {
				t.Errorf("the author keeps %d messages, want the quota %d", got, quota)
			}
		})
	}
}
