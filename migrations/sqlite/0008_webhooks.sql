-- Status callbacks (projections/webhooks.py, smsledger/workers/webhooks.py).
-- SQLite: UUIDs are canonical text, times fixed-width UTC text (text order is time order).
-- Numbered 0008 to leave 0006-0007 to work in flight on other branches.

-- Each account's webhook as last configured (from Account.WebhookConfigured/Removed).
-- Only nonces: a secret is derived from SMSLEDGER_WEBHOOK_KEY and a nonce, never stored.
CREATE TABLE webhook_endpoints (
    account_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,               -- JSON list of event kinds
    nonce TEXT NOT NULL,
    previous_nonce TEXT,                -- the secret before a rotation ...
    previous_until TEXT,         -- ... still signs until then
    configured_at TEXT NOT NULL
);

-- A batch's own status_callback (from Batch.Submitted).
CREATE TABLE webhook_batch_callbacks (
    batch_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    url TEXT NOT NULL
);

-- The outbox: one row per status change of a message with somewhere to report it,
-- inserted by the projection in the transaction that moves its position; the delivery
-- worker updates state, attempts and next_at. webhook_id is derived from the event.
CREATE TABLE webhook_outbox (
    webhook_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,           -- log position of the event: the list order
    account_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    version INTEGER NOT NULL,           -- the message's version after the event
    event_at TEXT NOT NULL,
    url TEXT NOT NULL,
    state TEXT NOT NULL,                -- pending | done | failed | gone | skipped
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,       -- due (or, while claimed, the lease's end)
    claimed_until TEXT,                  -- while claimed: a sender has it (the per-endpoint limit)
    first_attempt_at TEXT,       -- the 24 h of retries count from here
    last_status integer,
    delivered_at TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE state = 'pending';
CREATE INDEX webhook_outbox_account ON webhook_outbox (account_id, position);

-- Every attempt, for GET .../webhook/deliveries.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL,
    at TEXT NOT NULL,
    status_code integer,                -- NULL: no answer (refused, timeout, bad target)
    error TEXT,
    latency_ms INTEGER NOT NULL,
    next_at TEXT                 -- when it is tried again; NULL: not again
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, id);

-- Per target URL of an account: paused after many failures in a row, disabled by 410.
CREATE TABLE webhook_endpoint_state (
    account_id TEXT NOT NULL,
    url TEXT NOT NULL,
    state TEXT NOT NULL,                -- active | paused | disabled
    failures INTEGER NOT NULL,          -- consecutive failed attempts
    changed_at TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (account_id, url)
);

-- Secrets the service generates for itself when none is configured (the webhook key).
CREATE TABLE service_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
