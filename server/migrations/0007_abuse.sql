-- Abuse limits that must hold across relays: failed console sign-ins per client address and
-- per (email, address), and the address a visitor's conversation last came from (budgets of
-- payment links per address). Expand-only.

CREATE TABLE signin_failures (
    -- 'ip:ADDR' or 'pair:EMAIL|ADDR'
    key            TEXT PRIMARY KEY,
    failures       BIGINT NOT NULL,
    window_start   BIGINT NOT NULL,
    blocked_until  BIGINT NOT NULL DEFAULT 0
);

ALTER TABLE conversations ADD COLUMN client_ip TEXT;
