package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/spaapi/domain"
)

// newestCache keeps the newest page of messages — the one every client
// asks for first, and most ask for again and again — for each page size
// recently asked for, until the database changes:
//
//   - a commit through any Messages store of this process on the same file drops
//     it at once (writes), before the writer's caller hears of success, so
//     a client always sees what it was told is stored;
//   - a commit by another process (one process per file is the supported
//     setup, but nothing stops a second) is seen within foreignCheck,
//     through PRAGMA data_version, which moves on every commit by any other
//     connection.
//
// Pages older than the newest are always read from the database.
type newestCache struct {
	writes *atomic.Uint64 // this process's commits to the file

	mu          sync.Mutex
	conn        *sql.Conn // for PRAGMA data_version only
	seenWrites  uint64
	checked     time.Time // of data_version
	dataVersion int64
	pages       map[int][]domain.Message // by limit
}

// foreignCheck is how often the cache asks whether another process wrote.
const foreignCheck = 100 * time.Millisecond

// maxCachedPages bounds the cache: a new page size beyond that many
// replaces one.
const maxCachedPages = 8

// fileWrites counts commits by this process per database file (absolute
// path), shared by every Messages store on it.
var fileWrites sync.Map // string → *atomic.Uint64

func (c *newestCache) open(ctx context.Context, read *sql.DB, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	counter, _ := fileWrites.LoadOrStore(abs, new(atomic.Uint64))
	c.writes = counter.(*atomic.Uint64)
	c.pages = map[int][]domain.Message{}
	c.conn, err = read.Conn(ctx)
	return err
}

func (c *newestCache) close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// wrote tells every Messages store on the file that it changed.
func (c *newestCache) wrote() { c.writes.Add(1) }

// get returns the newest limit messages, from the cache or else from
// load. The slice is shared with later callers (see ports.MessageStore).
func (c *newestCache) get(ctx context.Context, limit int, load func(context.Context, *domain.MessageKey, int) ([]domain.Message, error)) ([]domain.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Look for changes before reading: a commit after this point shows
	// as a change next time, and the page is read again then.
	if w := c.writes.Load(); w != c.seenWrites {
		clear(c.pages)
		c.seenWrites = w
	}
	if now := time.Now(); now.Sub(c.checked) >= foreignCheck {
		var v int64
		if err := c.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
			return nil, wrap("listing messages", err)
		}
		if v != c.dataVersion {
			clear(c.pages)
			c.dataVersion = v
		}
		c.checked = now
	}
	page, ok := c.pages[limit]
	if !ok {
		var err error
		if page, err = load(ctx, nil, limit); err != nil {
			return nil, err
		}
		if len(c.pages) >= maxCachedPages {
			for k := range c.pages {
				delete(c.pages, k)
				break
			}
		}
		c.pages[limit] = page
	}
	return page, nil
}
