-- Inbound SMS (projection "inbound"): one row per SMS received on a virtual number, and
-- one row per change of a block list (who blocked or unblocked a number, when, why:
-- what `smsledger history +46...` answers).
CREATE TABLE view_inbound_messages (
    id uuid PRIMARY KEY,
    seq bigint NOT NULL,              -- log position of its Received event: list order
    account_id uuid NOT NULL,
    to_number text NOT NULL,
    from_number text NOT NULL,
    body text NOT NULL,
    at timestamptz NOT NULL,          -- the carrier's time of the SMS
    action text,                      -- opt_out | contact_saved | NULL
    received_at timestamptz NOT NULL
);
CREATE INDEX view_inbound_messages_account ON view_inbound_messages (account_id, seq);

CREATE TABLE view_number_events (
    seq bigint PRIMARY KEY,           -- log position of the Account event
    account_id uuid NOT NULL,
    msisdn text NOT NULL,
    change text NOT NULL,             -- blocked | unblocked
    source text,                      -- manual | stop | unsubscribe_link (blocked only)
    inbound_id uuid,                  -- the STOP that blocked it
    at timestamptz NOT NULL
);
CREATE INDEX view_number_events_msisdn ON view_number_events (msisdn, seq);
