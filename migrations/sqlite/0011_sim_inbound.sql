-- The carrier simulator's replies: SMS its recipients send back (STOP, Save ...), each
-- due at a time; the dispatcher hands due ones to the inbound ingest, then marks them.
CREATE TABLE sim_inbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,         -- whose message it answers
    sender TEXT NOT NULL,             -- the recipient who replies
    body TEXT NOT NULL,
    gateway_ref TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,                 -- the carrier's time of the reply
    due_at TEXT NOT NULL,             -- when it reaches us
    sent_at TEXT
);
CREATE INDEX sim_inbound_due ON sim_inbound (due_at, id) WHERE sent_at IS NULL;
