-- Read models (projections/). Every row here is derived from the event log and can be
-- rebuilt from it (`smsledger project --rebuild NAME`); the event store is the truth.

-- Message status view: one row per message, current status and money facts.
CREATE TABLE view_messages (
    id uuid PRIMARY KEY,
    seq bigint NOT NULL,              -- log position of its Accepted event: list order, cursor
    account_id uuid NOT NULL,
    batch_id uuid NOT NULL,
    sender text NOT NULL,
    recipient text NOT NULL,
    segments integer NOT NULL,
    encoding text NOT NULL,
    unit_price bigint NOT NULL,
    price bigint NOT NULL,
    currency text NOT NULL,
    status integer NOT NULL,
    status_group text NOT NULL,
    final boolean NOT NULL,
    charged_to text,
    charge_period text,               -- YYYY-MM of the charge, in the account's time zone
    refunded boolean NOT NULL,
    refunded_to text,
    refund_period text,
    refund_amount bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
) WITH (fillfactor = 80);

-- The list filters of GET /v1/messages, each scoped by account, in list order.
CREATE INDEX view_messages_account ON view_messages (account_id, created_at, seq);
CREATE INDEX view_messages_batch ON view_messages (batch_id, created_at, seq);
CREATE INDEX view_messages_status ON view_messages (account_id, status, created_at, seq);
CREATE INDEX view_messages_group ON view_messages (account_id, status_group, created_at, seq);
CREATE INDEX view_messages_recipient ON view_messages (account_id, recipient, created_at, seq);
CREATE INDEX view_messages_all ON view_messages (created_at, seq);
-- Reconciliation reads charges and refunds by account and period.
CREATE INDEX view_messages_charges ON view_messages (account_id, charge_period)
    WHERE charged_to IS NOT NULL;
CREATE INDEX view_messages_refunds ON view_messages (account_id, refund_period)
    WHERE refunded;

-- Account balance: one row per account, so reading a balance never grows with history.
CREATE TABLE view_accounts (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    payment_model text NOT NULL,
    currency text NOT NULL,
    timezone text NOT NULL,
    balance bigint NOT NULL,
    entries bigint NOT NULL,          -- seq of its last ledger entry
    opened_at timestamptz NOT NULL
);

-- Account ledger: every movement of the balance, numbered per account.
CREATE TABLE view_ledger_entries (
    account_id uuid NOT NULL,
    seq bigint NOT NULL,
    at timestamptz NOT NULL,
    period text NOT NULL,             -- YYYY-MM in the account's time zone
    kind text NOT NULL,               -- top_up | charge | refund | fee
    amount bigint NOT NULL,           -- signed: money in is positive
    balance_after bigint NOT NULL,
    message_id uuid,
    reference text,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX view_ledger_entries_period ON view_ledger_entries (account_id, period, seq);

-- Monthly invoices of post-invoiced charges.
CREATE TABLE view_invoices (
    account_id uuid NOT NULL,
    period text NOT NULL,
    status text NOT NULL,             -- open | issued
    issued_at timestamptz,
    PRIMARY KEY (account_id, period)
);

-- Invoice lines, grouped (never one per message) by kind, destination and unit price.
CREATE TABLE view_invoice_lines (
    account_id uuid NOT NULL,
    period text NOT NULL,             -- the invoice the line is on
    line_key text NOT NULL,           -- what groups it: kind, origin, country, unit price
    kind text NOT NULL,               -- sms | refund | fee | adjustment
    source_kind text NOT NULL,        -- sms | refund: what an adjustment adjusts
    origin_period text NOT NULL,      -- the period its charges or refunds belong to
    description text NOT NULL,
    quantity bigint NOT NULL,         -- segments
    amount bigint NOT NULL,           -- signed: a refund is negative
    PRIMARY KEY (account_id, period, line_key)
);
CREATE INDEX view_invoice_lines_origin ON view_invoice_lines (account_id, origin_period);

-- Facts about invoice-charged messages that a later refund line needs.
CREATE TABLE view_invoice_messages (
    message_id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    country text NOT NULL,
    unit_price bigint NOT NULL,
    segments integer NOT NULL,
    currency text NOT NULL
);
