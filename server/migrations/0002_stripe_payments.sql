-- Stripe connections, payments and their transitions, the webhook event ledger and health,
-- and the built-in Stripe simulator's objects. Same SQL for SQLite and PostgreSQL.

CREATE TABLE stripe_accounts (
    site_id                       TEXT PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE,
    livemode                      BIGINT NOT NULL,
    secret_key_enc                TEXT NOT NULL,
    secret_key_masked             TEXT NOT NULL,
    -- Sealed JSON array of whsec_ secrets, the current one first (rotation keeps the old).
    webhook_secrets_enc           TEXT,
    publishable_key               TEXT,
    success_url                   TEXT,
    cancel_url                    TEXT,
    apple_pay                     BIGINT NOT NULL DEFAULT 1,
    google_pay                    BIGINT NOT NULL DEFAULT 1,
    payment_method_configuration  TEXT,
    last_error                    TEXT,
    last_error_at                 BIGINT,
    updated_at                    BIGINT NOT NULL
);

CREATE TABLE payments (
    id               TEXT PRIMARY KEY,
    site_id          TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    conversation_id  TEXT REFERENCES conversations(id) ON DELETE CASCADE,
    amount_minor     BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    description      TEXT NOT NULL,
    status           TEXT NOT NULL,
    session_id       TEXT UNIQUE,
    checkout_url     TEXT,
    expires_at       BIGINT NOT NULL,
    resolved_by      TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE INDEX payments_open ON payments (status, expires_at);
CREATE INDEX payments_by_conversation ON payments (conversation_id);

-- Every status change of a payment, and what caused it (an event id, reconcile, decline).
CREATE TABLE payment_transitions (
    payment_id   TEXT NOT NULL REFERENCES payments(id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    from_status  TEXT NOT NULL,
    to_status    TEXT NOT NULL,
    source       TEXT NOT NULL,
    at           BIGINT NOT NULL,
    PRIMARY KEY (payment_id, seq)
);

-- Every Stripe event id seen, once: a redelivery finds its row and changes nothing.
CREATE TABLE stripe_events (
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (site_id, event_id)
);

CREATE TABLE webhook_health (
    site_id              TEXT PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE,
    last_event_type      TEXT,
    last_event_at        BIGINT,
    last_failure_reason  TEXT,
    last_failure_at      BIGINT,
    events_received      BIGINT NOT NULL DEFAULT 0,
    duplicates           BIGINT NOT NULL DEFAULT 0,
    signature_failures   BIGINT NOT NULL DEFAULT 0
);

-- The Stripe simulator (TEST MODE only): Stripe objects as JSON, and idempotent results.
CREATE TABLE simulator_objects (
    id          TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE INDEX simulator_objects_by_kind ON simulator_objects (account, kind);

CREATE TABLE simulator_idempotency (
    account      TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (account, idem_key)
);
