-- Inbound SMS (projection "inbound"): one row per SMS received on a virtual number, and
-- one row per change of a block list (who blocked or unblocked a number, when, why:
-- what `smsledger history +46...` answers).
CREATE TABLE view_inbound_messages (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,              -- log position of its Received event: list order
    account_id TEXT NOT NULL,
    to_number TEXT NOT NULL,
    from_number TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL,          -- the carrier's time of the SMS
    action TEXT,                      -- opt_out | contact_saved | NULL
    received_at TEXT NOT NULL
);
CREATE INDEX view_inbound_messages_account ON view_inbound_messages (account_id, seq);

CREATE TABLE view_number_events (
    seq INTEGER PRIMARY KEY,           -- log position of the Account event
    account_id TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    change TEXT NOT NULL,             -- blocked | unblocked
    source TEXT,                      -- manual | stop | unsubscribe_link (blocked only)
    inbound_id TEXT,                  -- the STOP that blocked it
    at TEXT NOT NULL
);
CREATE INDEX view_number_events_msisdn ON view_number_events (msisdn, seq);
