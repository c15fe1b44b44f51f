-- The delivery pipeline (smsledger/dispatcher.py, smsledger/sweeper.py, smsledger/simulator.py).
-- Times are fixed-width UTC text, so text order is time order.

-- The dispatcher's durable queue: one row per funded message that is not final yet,
-- kept by following the event log (its position is the 'dispatcher' row of
-- projection_tracking, written in the same transaction). The hand-off worker reads it by
-- due_at; the expiry sweeper by expires_at. A row leaves when its message becomes final.
CREATE TABLE delivery_queue (
    message_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    due_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    gateway_ref TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX delivery_queue_due ON delivery_queue (state, due_at);
CREATE INDEX delivery_queue_expiry ON delivery_queue (expires_at);

-- The carrier simulator's side of the wire, kept so its counts survive a restart.
CREATE TABLE sim_submissions (
    message_id TEXT PRIMARY KEY,
    gateway_ref TEXT,
    outcome TEXT NOT NULL,
    calls INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    submitted_at TEXT NOT NULL
);

CREATE TABLE sim_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    due_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX sim_reports_due ON sim_reports (due_at, id) WHERE sent_at IS NULL;
