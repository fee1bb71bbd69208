-- Several relays on one database. Notes for agents (a mismatch, a double charge, a link
-- that could not be made) are kept, so every relay's console can show them (the bus only
-- says where to read them); leases name work one relay at a time does (the simulator's
-- sweep, seeding the demo site). Expand-only.

CREATE TABLE notices (
    id               TEXT PRIMARY KEY,
    site_id          TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    text             TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);

CREATE INDEX notices_by_conversation ON notices (conversation_id, created_at);

CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    -- unix ms
    until   BIGINT NOT NULL
);
