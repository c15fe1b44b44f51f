-- Where each projection (and the dispatcher) has got to in the event log.
-- Written in the same transaction as the rows it tracks.
CREATE TABLE projection_tracking (
    name text PRIMARY KEY,
    position bigint NOT NULL
);
