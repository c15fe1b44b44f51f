-- Add-ons (projection "add_ons"): one row per add-on, and one per fee charged, the
-- fees being what reconciliation checks the invoices' fee lines against.
CREATE TABLE view_add_ons (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    number TEXT,
    price_per_year INTEGER NOT NULL,
    currency TEXT NOT NULL,
    started_on TEXT NOT NULL,         -- YYYY-MM-DD in the account's time zone
    notice_given_on TEXT,
    ends_on TEXT,
    next_due_on TEXT,                 -- the next anniversary not charged; NULL: none left
    ordered_at TEXT NOT NULL
);
CREATE INDEX view_add_ons_account ON view_add_ons (account_id, started_on, id);
CREATE INDEX view_add_ons_due ON view_add_ons (next_due_on);

CREATE TABLE view_add_on_fees (
    add_on_id TEXT NOT NULL,
    due_on TEXT NOT NULL,
    account_id TEXT NOT NULL,
    period TEXT NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (add_on_id, due_on)
);
CREATE INDEX view_add_on_fees_period ON view_add_on_fees (account_id, period);
