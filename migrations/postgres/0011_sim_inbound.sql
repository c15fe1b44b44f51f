-- The carrier simulator's replies: SMS its recipients send back (STOP, Save ...), each
-- due at a time; the dispatcher hands due ones to the inbound ingest, then marks them.
CREATE TABLE sim_inbound (
    id bigserial PRIMARY KEY,
    account_id uuid NOT NULL,         -- whose message it answers
    sender text NOT NULL,             -- the recipient who replies
    body text NOT NULL,
    gateway_ref text NOT NULL UNIQUE,
    at timestamptz NOT NULL,          -- the carrier's time of the reply
    due_at timestamptz NOT NULL,      -- when it reaches us
    sent_at timestamptz
);
CREATE INDEX sim_inbound_due ON sim_inbound (due_at, id) WHERE sent_at IS NULL;
