package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.MessageStore = (*Messages)(nil)

// authorLocks is the first key of the transaction-scoped advisory locks
// that serialize one author's posts (the second is a hash of the author).
// Two-key advisory locks never collide with the one-key migration lock.
const authorLocks = 0x7370_6d73 // "spms"

// Messages is the ports.MessageStore of a DB (the messages table), safe
// for concurrent use.
type Messages struct {
	db *DB
}

// Messages returns the store of messages in db.
func (db *DB) Messages() *Messages { return &Messages{db: db} }

// Ready implements ports.Readiness: the database's.
func (s *Messages) Ready(ctx context.Context) error { return s.db.Ready(ctx) }

// messageColumns are read and written in this order.
const messageColumns = `id, author_issuer, author, text, created_at`

// Add implements ports.MessageStore. The author's advisory lock makes the
// count and the insert one step for that author; other authors' posts do
// not wait.
func (s *Messages) Add(ctx context.Context, m domain.Message, perAuthor int) error {
	if !s.db.migrated.Load() {
		return s.db.unavailable()
	}
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, hashtext($2::text || ' ' || $3::text))`,
			authorLocks, m.AuthorIssuer, m.Author); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO messages (`+messageColumns+`)
			SELECT $1, $2, $3, $4, $5
			WHERE (SELECT count(*) FROM messages WHERE author_issuer = $2 AND author = $3) < $6`,
			m.ID, m.AuthorIssuer, m.Author, m.Text, m.CreatedAt, perAuthor)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &domain.QuotaError{Limit: perAuthor}
		}
		return nil
	})
	if errors.As(err, new(*domain.QuotaError)) {
		return err
	}
	return wrap("adding a message", err)
}

// List implements ports.MessageStore.
func (s *Messages) List(ctx context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error) {
	if !s.db.migrated.Load() {
		return nil, s.db.unavailable()
	}
	var rows pgx.Rows
	var err error
	if after == nil {
		rows, err = s.db.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
			ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	} else {
		rows, err = s.db.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT $3`, after.CreatedAt, after.ID, limit)
	}
	if err != nil {
		return nil, wrap("listing messages", err)
	}
	defer rows.Close()
	out := make([]domain.Message, 0, min(limit, 128))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, wrap("listing messages", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("listing messages", err)
	}
	return out, nil
}

// Get implements ports.MessageStore.
func (s *Messages) Get(ctx context.Context, id string) (domain.Message, error) {
	if !s.db.migrated.Load() {
		return domain.Message{}, s.db.unavailable()
	}
	m, err := scanMessage(s.db.pool.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Message{}, fmt.Errorf("postgres: message %q: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Message{}, wrap("reading a message", err)
	}
	return m, nil
}

// Delete implements ports.MessageStore.
func (s *Messages) Delete(ctx context.Context, id string) error {
	if !s.db.migrated.Load() {
		return s.db.unavailable()
	}
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM messages WHERE id = $1`, id)
	if err != nil {
		return wrap("deleting a message", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: message %q: %w", id, domain.ErrNotFound)
	}
	return nil
}

func scanMessage(row pgx.Row) (domain.Message, error) {
	var m domain.Message
	if err := row.Scan(&m.ID, &m.AuthorIssuer, &m.Author, &m.Text, &m.CreatedAt); err != nil {
		return domain.Message{}, err
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return m, nil
}
