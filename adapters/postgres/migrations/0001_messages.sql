-- Messages, newest first by (created_at, id); authors are issuer + subject.
-- IDs compare bytewise (COLLATE "C"), as in every other store.
CREATE TABLE messages (
    id            text COLLATE "C" NOT NULL PRIMARY KEY,
    author_issuer text        NOT NULL,
    author        text        NOT NULL,
    text          text        NOT NULL,
    created_at    timestamptz NOT NULL
);

-- Keyset pagination: WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC.
CREATE INDEX messages_by_time ON messages (created_at, id);

-- The per-author quota counts these.
CREATE INDEX messages_by_author ON messages (author_issuer, author);
