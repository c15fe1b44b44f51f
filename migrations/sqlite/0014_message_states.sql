-- A current-state row per message, derived from its events and written in the same
-- transaction as them (`Ledger._record`): the message's attributes as the event
-- transcoder encodes them, at `version`. Report ingest and the sweeper load a batch of
-- messages from these rows plus any events after `version` (none, normally), instead
-- of replaying every event. The events stay the truth: a row of another `format`, or
-- none at all (a message stored before this table), is read by replaying its events.
CREATE TABLE message_states (
    message_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    format INTEGER NOT NULL,
    state BLOB NOT NULL
) WITHOUT ROWID;
