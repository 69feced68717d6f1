-- Messages, newest first by (created_at, id); authors are issuer + subject.
-- created_at is Unix microseconds (the precision every store keeps). The
-- table is clustered by that order (WITHOUT ROWID), so a page is one range
-- of the table itself: WHERE (created_at, id) < (?, ?) ORDER BY created_at
-- DESC, id DESC.
CREATE TABLE messages (
    created_at    INTEGER NOT NULL,
    id            TEXT    NOT NULL,
    author_issuer TEXT    NOT NULL,
    author        TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    PRIMARY KEY (created_at, id)
) STRICT, WITHOUT ROWID;

-- IDs are unique; Get and Delete find messages by them.
CREATE UNIQUE INDEX messages_by_id ON messages (id);

-- The per-author quota counts these.
CREATE INDEX messages_by_author ON messages (author_issuer, author);
