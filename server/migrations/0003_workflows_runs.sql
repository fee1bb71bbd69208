-- Workflows (every published version kept), one run per conversation, payment cards in the
-- history, and what a conversation is waiting for. Same SQL for SQLite and PostgreSQL.

CREATE TABLE workflows (
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (site_id, version)
);

-- A conversation's run keeps the workflow version it started with.
CREATE TABLE runs (
    conversation_id   TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    site_id           TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    workflow_version  BIGINT NOT NULL,
    status            TEXT NOT NULL,
    state             TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE INDEX runs_by_status ON runs (status, updated_at);

-- History rows are text messages, payment cards or payment updates (body is JSON for those).
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';

-- bot | waiting_agent | agent | closed
ALTER TABLE conversations ADD COLUMN status TEXT NOT NULL DEFAULT 'bot';

-- Where Checkout returns to, when the workflow node overrides the site's defaults.
ALTER TABLE payments ADD COLUMN success_url TEXT;
ALTER TABLE payments ADD COLUMN cancel_url TEXT;
