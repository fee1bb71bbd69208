-- Sites, their allowed origins, conversations and their history.
-- Written once for both SQLite and PostgreSQL: TEXT ids, BIGINT unix-millisecond times.

CREATE TABLE sites (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    greeting    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE site_origins (
    site_id  TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    origin   TEXT NOT NULL,
    PRIMARY KEY (site_id, origin)
);

CREATE TABLE conversations (
    id                  TEXT PRIMARY KEY,
    site_id             TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    visitor_token_hash  TEXT NOT NULL UNIQUE,
    last_seq            BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE INDEX conversations_by_site ON conversations (site_id, updated_at);

-- One row per history event of a conversation, in `seq` order (1, 2, 3, …).
CREATE TABLE messages (
    conversation_id  TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,
    author           TEXT NOT NULL,
    body             TEXT NOT NULL,
    client_id        TEXT,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, client_id);
