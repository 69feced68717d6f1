package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
)

// ownerGate lets one request per owner at a time through, in this
// process, to the database: the others of the same owner wait here, on
// their own context, holding no pooled connection. One owner's posts are
// serialized by an advisory lock in the database anyway (across
// instances); without the gate, every post of a flooding owner would hold
// a connection of the pool while waiting for that lock, and a few dozen
// of them take the whole pool from everyone else.
//
// Its memory is bounded by the requests in it: an owner's entry exists
// while at least one of its requests is inside or waiting, and every
// request is an open connection to the API (MAX_CONNS). Waiters go
// through in the order they came (a channel's senders queue FIFO).
type ownerGate struct {
	mu     sync.Mutex
	owners map[ownerKey]*ownerTurn
	// waiting is how many requests wait right now; waited counts every
	// request that ever had to (both for tests and the curious).
	waiting int
	waited  int64
}

// ownerKey is one owner of one kind of lock: the advisory lock's first
// key, and the owner's issuer and subject (compared exactly: no hash,
// so two owners never share a turn).
type ownerKey struct {
	class           int32
	issuer, subject string
}

// ownerTurn is one owner's: a token in turn means someone is through.
type ownerTurn struct {
	turn chan struct{} // capacity 1
	refs int           // requests through or waiting, under ownerGate.mu
}

func newOwnerGate() *ownerGate {
	return &ownerGate{owners: make(map[ownerKey]*ownerTurn)}
}

// enter returns once the caller is the only request of k through the
// gate, or with ctx's error if ctx ends first (then it is not through and
// has left). leave must be called exactly once after a nil error.
func (g *ownerGate) enter(ctx context.Context, k ownerKey) (leave func(), err error) {
	g.mu.Lock()
	t := g.owners[k]
	if t == nil {
		t = &ownerTurn{turn: make(chan struct{}, 1)}
		g.owners[k] = t
	}
	t.refs++
	g.mu.Unlock()
	leave = func() {
		<-t.turn
		g.drop(k, t)
	}

	select {
	case t.turn <- struct{}{}:
		return leave, nil
	default:
	}
	g.mu.Lock()
	g.waiting++
	g.waited++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
	}()
	select {
	case t.turn <- struct{}{}:
		return leave, nil
	case <-ctx.Done():
		g.drop(k, t)
		return nil, ctx.Err()
	}
}

// drop forgets t once nobody is through or waiting.
func (g *ownerGate) drop(k ownerKey, t *ownerTurn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t.refs--
	if t.refs == 0 {
		delete(g.owners, k)
	}
}

// gateStats is what the gate holds right now.
type gateStats struct {
	owners  int   // entries: owners with a request through or waiting
	waiting int   // requests waiting
	waited  int64 // requests that ever waited
}

func (g *ownerGate) stats() gateStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return gateStats{owners: len(g.owners), waiting: g.waiting, waited: g.waited}
}

// ownerTx runs fn in a transaction that holds the advisory lock of one
// owner (class, and a hash of issuer and subject), which serializes that
// owner's writes across every instance: a quota count and an insert are
// then one step. The owner's other requests in this process wait in the
// gate first, so that at most one of them holds a pooled connection
// while waiting for the lock (another instance may hold it).
func (db *DB) ownerTx(ctx context.Context, class int32, issuer, subject string, fn func(pgx.Tx) error) error {
	leave, err := db.owners.enter(ctx, ownerKey{class: class, issuer: issuer, subject: subject})
	if err != nil {
		return err
	}
	defer leave()
	// READ COMMITTED whatever the database's default: each statement then
	// sees what was committed before it started, so the statements after
	// the lock see the owner's writes committed while this one waited for
	// it. (Under REPEATABLE READ the snapshot would be taken by the lock's
	// statement, before the wait, and a quota count could miss a write.)
	return pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, hashtext($2::text || ' ' || $3::text))`,
			class, issuer, subject); err != nil {
			return err
		}
		return fn(tx)
	})
}
