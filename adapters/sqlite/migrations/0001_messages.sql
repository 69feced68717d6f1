-- Messages, newest first by (created_at, id); authors are issuer + subject.
-- created_at is Unix microseconds (the precision every store keeps).
CREATE TABLE messages (
    id            TEXT    NOT NULL PRIMARY KEY,
    author_issuer TEXT    NOT NULL,
    author        TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

-- Keyset pagination: WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC.
CREATE INDEX messages_by_time ON messages (created_at, id);

-- The per-author quota counts these.
CREATE INDEX messages_by_author ON messages (author_issuer, author);
