package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var _ ports.MessageStore = (*Messages)(nil)

// Messages is the ports.MessageStore of a DB (the messages table),
// safe for concurrent use.
type Messages struct {
	db *DB

	insert, remove, get, listFirst, listAfter *sql.Stmt

	newest newestCache
}

// Messages returns the store of messages in db, its statements prepared.
// They are closed with db.
func (db *DB) Messages(ctx context.Context) (*Messages, error) {
	s := &Messages{db: db}
	err := db.prepare(ctx,
		// The count and the insert are one statement, so they happen
		// under one write lock: two posts at quota-1 cannot both pass.
		statement{&s.insert, true, `INSERT INTO messages (id, author_issuer, author, text, created_at)
			SELECT ?1, ?2, ?3, ?4, ?5
			WHERE (SELECT count(*) FROM messages WHERE author_issuer = ?2 AND author = ?3) < ?6`},
		statement{&s.remove, true, `DELETE FROM messages WHERE id = ?`},
		statement{&s.get, false, `SELECT id, author_issuer, author, text, created_at FROM messages WHERE id = ?`},
		statement{&s.listFirst, false, `SELECT id, author_issuer, author, text, created_at FROM messages
			ORDER BY created_at DESC, id DESC LIMIT ?`},
		statement{&s.listAfter, false, `SELECT id, author_issuer, author, text, created_at FROM messages
			WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?`},
	)
	if err != nil {
		return nil, err
	}
	if err := s.newest.open(ctx, db.read, db.path); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", db.path, err)
	}
	db.onClose(s.newest.close)
	return s, nil
}

// Ready implements ports.Readiness: the database's.
func (s *Messages) Ready(ctx context.Context) error { return s.db.Ready(ctx) }

// Add implements ports.MessageStore.
func (s *Messages) Add(ctx context.Context, m domain.Message, perAuthor int) error {
	res, err := s.insert.ExecContext(ctx, m.ID, m.AuthorIssuer, m.Author, m.Text, m.CreatedAt.UnixMicro(), perAuthor)
	if err != nil {
		return wrap("adding a message", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("adding a message", err)
	} else if n == 0 {
		return &domain.QuotaError{Limit: perAuthor}
	}
	s.newest.wrote()
	return nil
}

// List implements ports.MessageStore. The newest page comes from a cache
// while the database is unchanged (newest.go).
func (s *Messages) List(ctx context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error) {
	if after == nil {
		return s.newest.get(ctx, limit, s.list)
	}
	return s.list(ctx, after, limit)
}

func (s *Messages) list(ctx context.Context, after *domain.MessageKey, limit int) ([]domain.Message, error) {
	var rows *sql.Rows
	var err error
	if after == nil {
		rows, err = s.listFirst.QueryContext(ctx, limit)
	} else {
		rows, err = s.listAfter.QueryContext(ctx, after.CreatedAt.UnixMicro(), after.ID, limit)
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
	m, err := scanMessage(s.get.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Message{}, fmt.Errorf("sqlite: message %q: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Message{}, wrap("reading a message", err)
	}
	return m, nil
}

// Delete implements ports.MessageStore.
func (s *Messages) Delete(ctx context.Context, id string) error {
	res, err := s.remove.ExecContext(ctx, id)
	if err != nil {
		return wrap("deleting a message", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("deleting a message", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: message %q: %w", id, domain.ErrNotFound)
	}
	s.newest.wrote()
	return nil
}

func scanMessage(row interface{ Scan(...any) error }) (domain.Message, error) {
	var m domain.Message
	var micros int64
	if err := row.Scan(&m.ID, &m.AuthorIssuer, &m.Author, &m.Text, &micros); err != nil {
		return domain.Message{}, err
	}
	m.CreatedAt = time.UnixMicro(micros).UTC()
	return m, nil
}
