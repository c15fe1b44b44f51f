-- Add-ons (projection "add_ons"): one row per add-on, and one per fee charged, the
-- fees being what reconciliation checks the invoices' fee lines against.
CREATE TABLE view_add_ons (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    kind text NOT NULL,
    number text,
    price_per_year bigint NOT NULL,
    currency text NOT NULL,
    started_on text NOT NULL,         -- YYYY-MM-DD in the account's time zone
    notice_given_on text,
    ends_on text,
    next_due_on text,                 -- the next anniversary not charged; NULL: none left
    ordered_at timestamptz NOT NULL
);
CREATE INDEX view_add_ons_account ON view_add_ons (account_id, started_on, id);
CREATE INDEX view_add_ons_due ON view_add_ons (next_due_on);

CREATE TABLE view_add_on_fees (
    add_on_id uuid NOT NULL,
    due_on text NOT NULL,
    account_id uuid NOT NULL,
    period text NOT NULL,
    amount bigint NOT NULL,
    PRIMARY KEY (add_on_id, due_on)
);
CREATE INDEX view_add_on_fees_period ON view_add_on_fees (account_id, period);
