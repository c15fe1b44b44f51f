-- Users' credentials that are not domain facts: one-time links, sessions, failed logins.
-- Only hashes of the secrets are kept (SHA-256 of a 256-bit random token).
CREATE TABLE user_links (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX user_links_user ON user_links (user_id, created_at);

CREATE TABLE user_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'sender', 'support', 'finance')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

CREATE TABLE login_failures (
    email_key TEXT PRIMARY KEY,       -- SHA-256 of the normalised address
    failures INTEGER NOT NULL,
    window_started_at TEXT NOT NULL
);

-- Mail waiting for the mailer: never lost (a row until sent), sent once (sent_at).
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sending_at TEXT,
    sent_at TEXT,
    last_error text
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at);

-- The users read model (projection "users").
CREATE TABLE view_users (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    invited_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX view_users_account ON view_users (account_id, invited_at, id);
