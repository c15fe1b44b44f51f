-- Events a projection could not apply (smsledger/projections/runner.py): the runner skips
-- such an event for that projection alone, so the others keep advancing, and records why
-- here in the same transaction as its tracking position. `smsledger project --rebuild
-- NAME` deletes a projection's rows before it replays. /healthz and /metrics read them.
CREATE TABLE projection_failures (
    projection text NOT NULL,
    position bigint NOT NULL,         -- the event's notification id
    topic text NOT NULL,
    originator_id text NOT NULL,
    account_id text,                  -- when the event names one
    error text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, position)
);
