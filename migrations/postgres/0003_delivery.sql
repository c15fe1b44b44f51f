-- The delivery pipeline (smsledger/dispatcher.py, smsledger/sweeper.py, smsledger/simulator.py).

-- The dispatcher's durable queue: one row per funded message that is not final yet,
-- kept by following the event log (its position is the 'dispatcher' row of
-- projection_tracking, written in the same transaction). The hand-off worker reads it by
-- due_at; the expiry sweeper by expires_at. A row leaves when its message becomes final.
CREATE TABLE delivery_queue (
    message_id uuid PRIMARY KEY,
    state text NOT NULL,              -- accepted | funded | sending | handed_off
    due_at timestamptz NOT NULL,      -- send_at, or when it was accepted
    expires_at timestamptz NOT NULL,  -- due_at + validity period
    gateway_ref text,
    updated_at timestamptz NOT NULL
);
CREATE INDEX delivery_queue_due ON delivery_queue (state, due_at);
CREATE INDEX delivery_queue_expiry ON delivery_queue (expires_at);

-- The carrier simulator's side of the wire. Kept in the database so its counts survive
-- a restart: one row per message id ever submitted (accepted or refused), counting calls.
CREATE TABLE sim_submissions (
    message_id uuid PRIMARY KEY,
    gateway_ref text,                 -- NULL when the hand-off was refused (511)
    outcome text NOT NULL,
    calls integer NOT NULL,           -- submit() calls for this id; 1 unless someone retried
    accepted integer NOT NULL,        -- submissions actually taken: never more than 1
    submitted_at timestamptz NOT NULL
);

-- Reports the simulated carrier will send, each due at a time; pump() hands out due ones.
CREATE TABLE sim_reports (
    id bigserial PRIMARY KEY,
    message_id uuid NOT NULL,
    payload text NOT NULL,            -- the report as a gateway would post it (JSON)
    due_at timestamptz NOT NULL,      -- when the carrier sends it to us
    sent_at timestamptz
);
CREATE INDEX sim_reports_due ON sim_reports (due_at, id) WHERE sent_at IS NULL;
