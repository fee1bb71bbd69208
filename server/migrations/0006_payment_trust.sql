-- Trust: what a payment's Checkout Session is created with, fixed when the payment is
-- written (the idempotency key with it); a lease while its create call is in flight; the
-- sweep's own schedule per payment; every session a payment ever had; and the row the
-- readiness probe writes. Expand-only: new tables and nullable (or defaulted) columns, so a
-- relay of the previous version keeps working on the same database.

ALTER TABLE payments ADD COLUMN idempotency_key TEXT;
ALTER TABLE payments ADD COLUMN payment_method_configuration TEXT;
-- The mode (1 live, 0 test) of the key the session was created with.
ALTER TABLE payments ADD COLUMN livemode BIGINT;
-- Unix milliseconds until which a relay's create call owns the payment.
ALTER TABLE payments ADD COLUMN lease_until BIGINT;
-- Unix milliseconds of the sweep's next look at this payment, and how many it had.
ALTER TABLE payments ADD COLUMN next_check_at BIGINT;
ALTER TABLE payments ADD COLUMN checks BIGINT NOT NULL DEFAULT 0;
-- 'workflow' or 'agent' (NULL: written by an older relay, a workflow's).
ALTER TABLE payments ADD COLUMN requested_by TEXT;
-- The console's key for a manual request, so a double-click makes one payment.
ALTER TABLE payments ADD COLUMN request_key TEXT;
-- Why a payment needs a person (a mismatched amount or currency, a double charge).
ALTER TABLE payments ADD COLUMN problem TEXT;

CREATE UNIQUE INDEX payments_request_key ON payments (conversation_id, request_key);
CREATE INDEX payments_due ON payments (status, next_check_at);

-- Every Checkout Session created for a payment. The payment's own `session_id` is the one
-- its card shows and never changes; any other is expired at Stripe (refunded if paid).
CREATE TABLE payment_sessions (
    session_id      TEXT PRIMARY KEY,
    payment_id      TEXT NOT NULL REFERENCES payments(id) ON DELETE CASCADE,
    -- open | complete | expired, as last heard from Stripe
    status          TEXT NOT NULL,
    paid            BIGINT NOT NULL DEFAULT 0,
    payment_intent  TEXT,
    -- NULL, 'due' (a second paid session to refund) or the refund's id
    refund          TEXT,
    created_at      BIGINT NOT NULL
);

CREATE INDEX payment_sessions_by_payment ON payment_sessions (payment_id);

-- /readyz writes a fresh nonce here and reads it back through another connection.
CREATE TABLE readiness (
    relay  TEXT PRIMARY KEY,
    nonce  TEXT NOT NULL,
    at     BIGINT NOT NULL
);
