-- Events a projection could not apply (smsledger/projections/runner.py): the runner skips
-- such an event for that projection alone, so the others keep advancing, and records why
-- here in the same transaction as its tracking position. `smsledger project --rebuild
-- NAME` deletes a projection's rows before it replays. /healthz and /metrics read them.
CREATE TABLE projection_failures (
    projection TEXT NOT NULL,
    position INTEGER NOT NULL,        -- the event's notification id
    topic TEXT NOT NULL,
    originator_id TEXT NOT NULL,
    account_id TEXT,                  -- when the event names one
    error TEXT NOT NULL,
    first_seen TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (projection, position)
);
