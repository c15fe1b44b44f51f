-- Users' credentials that are not domain facts: one-time links, sessions, failed logins.
-- Only hashes of the secrets are kept (SHA-256 of a 256-bit random token).
CREATE TABLE user_links (
    token_hash text PRIMARY KEY,
    user_id uuid NOT NULL,
    purpose text NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX user_links_user ON user_links (user_id, created_at);

CREATE TABLE user_sessions (
    token_hash text PRIMARY KEY,
    user_id uuid NOT NULL,
    account_id uuid NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'sender', 'support', 'finance')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX user_sessions_user ON user_sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE login_failures (
    email_key text PRIMARY KEY,       -- SHA-256 of the normalised address
    failures integer NOT NULL,
    window_started_at timestamptz NOT NULL
);

-- Mail waiting for the mailer: never lost (a row until sent), sent once (sent_at).
CREATE TABLE mail_outbox (
    id uuid PRIMARY KEY,
    to_addr text NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    sending_at timestamptz,
    sent_at timestamptz,
    last_error text
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;

-- The users read model (projection "users").
CREATE TABLE view_users (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    email text NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    state text NOT NULL,
    invited_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX view_users_account ON view_users (account_id, invited_at, id);
