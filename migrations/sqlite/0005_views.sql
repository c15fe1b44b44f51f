-- Read models (projections/). Every row here is derived from the event log and can be
-- SQLite: UUIDs are canonical text, times are UTC ISO 8601 text of fixed width, flags 0/1.
-- rebuilt from it (`smsledger project --rebuild NAME`); the event store is the truth.

-- Message status view: one row per message, current status and money facts.
CREATE TABLE view_messages (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,              -- log position of its Accepted event: list order, cursor
    account_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    segments INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    unit_price INTEGER NOT NULL,
    price INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status INTEGER NOT NULL,
    status_group TEXT NOT NULL,
    final INTEGER NOT NULL,
    charged_to TEXT,
    charge_period TEXT,               -- YYYY-MM of the charge, in the account's time zone
    refunded INTEGER NOT NULL,
    refunded_to TEXT,
    refund_period TEXT,
    refund_amount INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

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
    WHERE refunded = 1;

-- Account balance: one row per account, so reading a balance never grows with history.
CREATE TABLE view_accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    payment_model TEXT NOT NULL,
    currency TEXT NOT NULL,
    timezone TEXT NOT NULL,
    balance INTEGER NOT NULL,
    entries INTEGER NOT NULL,          -- seq of its last ledger entry
    opened_at TEXT NOT NULL
);

-- Account ledger: every movement of the balance, numbered per account.
CREATE TABLE view_ledger_entries (
    account_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    period TEXT NOT NULL,             -- YYYY-MM in the account's time zone
    kind TEXT NOT NULL,               -- top_up | charge | refund | fee
    amount INTEGER NOT NULL,           -- signed: money in is positive
    balance_after INTEGER NOT NULL,
    message_id TEXT,
    reference TEXT,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX view_ledger_entries_period ON view_ledger_entries (account_id, period, seq);

-- Monthly invoices of post-invoiced charges.
CREATE TABLE view_invoices (
    account_id TEXT NOT NULL,
    period TEXT NOT NULL,
    status TEXT NOT NULL,             -- open | issued
    issued_at TEXT,
    PRIMARY KEY (account_id, period)
);

-- Invoice lines, grouped (never one per message) by kind, destination and unit price.
CREATE TABLE view_invoice_lines (
    account_id TEXT NOT NULL,
    period TEXT NOT NULL,             -- the invoice the line is on
    line_key TEXT NOT NULL,           -- what groups it: kind, origin, country, unit price
    kind TEXT NOT NULL,               -- sms | refund | fee | adjustment
    source_kind TEXT NOT NULL,        -- sms | refund: what an adjustment adjusts
    origin_period TEXT NOT NULL,      -- the period its charges or refunds belong to
    description TEXT NOT NULL,
    quantity INTEGER NOT NULL,         -- segments
    amount INTEGER NOT NULL,           -- signed: a refund is negative
    PRIMARY KEY (account_id, period, line_key)
);
CREATE INDEX view_invoice_lines_origin ON view_invoice_lines (account_id, origin_period);

-- Facts about invoice-charged messages that a later refund line needs.
CREATE TABLE view_invoice_messages (
    message_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    country TEXT NOT NULL,
    unit_price INTEGER NOT NULL,
    segments INTEGER NOT NULL,
    currency TEXT NOT NULL
);
