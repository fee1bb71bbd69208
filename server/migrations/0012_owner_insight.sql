-- Owner insight. The Payments page: who asked for a payment (the workflow version whose Request
-- Payment node asked, or the console account that asked), the PaymentIntent that paid it,
-- and what Stripe said after it was paid (refunds and disputes made at Stripe).
-- Expand-only: nullable or defaulted columns, so a relay of the previous version keeps
-- working on the same database.

ALTER TABLE payments ADD COLUMN workflow_version BIGINT;
-- The email of the console account that asked (a manual payment).
ALTER TABLE payments ADD COLUMN agent TEXT;
-- The PaymentIntent of the session that took the money.
ALTER TABLE payments ADD COLUMN payment_intent TEXT;
-- How much of it Stripe has refunded, in minor units (charge.refunded's amount_refunded).
ALTER TABLE payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
-- The status of a dispute on it, as Stripe words it (needs_response, won, lost, …).
ALTER TABLE payments ADD COLUMN dispute TEXT;

CREATE INDEX payments_by_site ON payments (site_id, created_at);

-- Requests a Request Payment node made that created no payment (an amount that is not one,
-- too many links in one run), so the owner's conversion counts every request.
CREATE TABLE payment_refusals (
    site_id           TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    conversation_id   TEXT REFERENCES conversations(id) ON DELETE CASCADE,
    workflow_version  BIGINT,
    node              TEXT NOT NULL,
    -- invalid_amount | too_many
    reason            TEXT NOT NULL,
    -- Unix milliseconds.
    at                BIGINT NOT NULL
);

CREATE INDEX payment_refusals_by_site ON payment_refusals (site_id, at);

-- Privacy: a site may erase conversations nobody touched for this many days (NULL: keep
-- them); an erased conversation says when, so retention erases it once.
ALTER TABLE sites ADD COLUMN retention_days BIGINT;
ALTER TABLE conversations ADD COLUMN erased_at BIGINT;

-- Telling the owner's own systems: a site's outbound webhook (its URL and signing secret,
-- sealed like the Stripe secrets), and every event chatpay sends it, retried for a day.
CREATE TABLE site_hooks (
    site_id      TEXT PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE,
    url          TEXT NOT NULL,
    secret_enc   TEXT NOT NULL,
    -- The secret's last characters, so the console can say which one is in use.
    secret_hint  TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE hook_deliveries (
    -- The event's id (one delivery per event).
    id               TEXT PRIMARY KEY,
    site_id          TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    -- An erased conversation's deliveries go with it.
    conversation_id  TEXT,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    -- pending | delivered | failed
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    -- Unix ms of the next try, or of the lease of a try in flight; NULL when done.
    next_at          BIGINT,
    -- The last answer: its HTTP status (NULL: none came) and why it did not count.
    last_status      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE INDEX hook_deliveries_due ON hook_deliveries (status, next_at);
CREATE INDEX hook_deliveries_by_site ON hook_deliveries (site_id, created_at);
