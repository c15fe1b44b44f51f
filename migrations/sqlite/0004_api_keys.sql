-- API keys, stored only as hashes (sha256 of a high-entropy random key).
-- account_id is NULL for the platform roles (operator, gateway).
-- Revoking sets revoked_at; authentication reads this table on every request.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL
        CHECK (role IN ('operator', 'gateway', 'admin', 'sender', 'support', 'finance')),
    account_id TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE INDEX api_keys_account_idx ON api_keys (account_id);
