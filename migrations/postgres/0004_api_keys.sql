-- API keys, stored only as hashes (sha256 of a high-entropy random key).
-- account_id is NULL for the platform roles (operator, gateway).
-- Revoking sets revoked_at; authentication reads this table on every request.
CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    key_hash text NOT NULL UNIQUE,
    role text NOT NULL
        CHECK (role IN ('operator', 'gateway', 'admin', 'sender', 'support', 'finance')),
    account_id uuid,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE INDEX api_keys_account_idx ON api_keys (account_id);
