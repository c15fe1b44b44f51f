-- Status callbacks (projections/webhooks.py, smsledger/workers/webhooks.py).
-- Numbered 0008 to leave 0006-0007 to work in flight on other branches.

-- Each account's webhook as last configured (from Account.WebhookConfigured/Removed).
-- Only nonces: a secret is derived from SMSLEDGER_WEBHOOK_KEY and a nonce, never stored.
CREATE TABLE webhook_endpoints (
    account_id uuid PRIMARY KEY,
    url text NOT NULL,
    events text NOT NULL,               -- JSON list of event kinds
    nonce text NOT NULL,
    previous_nonce text,                -- the secret before a rotation ...
    previous_until timestamptz,         -- ... still signs until then
    configured_at timestamptz NOT NULL
);

-- A batch's own status_callback (from Batch.Submitted).
CREATE TABLE webhook_batch_callbacks (
    batch_id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    url text NOT NULL
);

-- The outbox: one row per status change of a message with somewhere to report it,
-- inserted by the projection in the transaction that moves its position; the delivery
-- worker updates state, attempts and next_at. webhook_id is derived from the event.
CREATE TABLE webhook_outbox (
    webhook_id text PRIMARY KEY,
    position bigint NOT NULL,           -- log position of the event: the list order
    account_id uuid NOT NULL,
    message_id uuid NOT NULL,
    version integer NOT NULL,           -- the message's version after the event
    event_at timestamptz NOT NULL,
    url text NOT NULL,
    state text NOT NULL,                -- pending | done | failed | gone | skipped
    attempts integer NOT NULL DEFAULT 0,
    next_at timestamptz NOT NULL,       -- due (or, while claimed, the lease's end)
    claimed_until timestamptz,           -- while claimed: a sender has it (the per-endpoint limit)
    first_attempt_at timestamptz,       -- the 24 h of retries count from here
    last_status integer,
    delivered_at timestamptz
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE state = 'pending';
CREATE INDEX webhook_outbox_account ON webhook_outbox (account_id, position);

-- Every attempt, for GET .../webhook/deliveries.
CREATE TABLE webhook_attempts (
    id bigserial PRIMARY KEY,
    webhook_id text NOT NULL,
    at timestamptz NOT NULL,
    status_code integer,                -- NULL: no answer (refused, timeout, bad target)
    error text,
    latency_ms integer NOT NULL,
    next_at timestamptz                 -- when it is tried again; NULL: not again
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, id);

-- Per target URL of an account: paused after many failures in a row, disabled by 410.
CREATE TABLE webhook_endpoint_state (
    account_id uuid NOT NULL,
    url text NOT NULL,
    state text NOT NULL,                -- active | paused | disabled
    failures integer NOT NULL,          -- consecutive failed attempts
    changed_at timestamptz NOT NULL,
    reason text,
    PRIMARY KEY (account_id, url)
);

-- Secrets the service generates for itself when none is configured (the webhook key).
CREATE TABLE service_secrets (
    name text PRIMARY KEY,
    value text NOT NULL
);
