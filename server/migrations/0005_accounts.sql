-- Site owners: accounts (argon2 password hashes), console sessions (token hashes), one-time
-- setup tokens for the first account; sites gain an owner and a widget colour.

CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE console_sessions (
    token_hash  TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE setup_tokens (
    token_hash  TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

ALTER TABLE sites ADD COLUMN owner_id TEXT REFERENCES accounts(id) ON DELETE SET NULL;
ALTER TABLE sites ADD COLUMN color TEXT;
