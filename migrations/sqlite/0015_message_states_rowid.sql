-- `message_states` as a rowid table (0014 made it WITHOUT ROWID). A row is ~600 bytes
-- (its state), six to a page; keyed by the message's random id, a send of 10,000 new
-- messages put its rows all over the table, so every send rewrote nearly all of it
-- (dirty pages to the WAL, then checkpointed back): 10,000-message sends into one store
-- slowed by ~2,000 pages written each. Here the rows go in rowid order, at the end of
-- the table, and only the narrow index on `message_id` takes random inserts (~90
-- entries a page, as the event table's primary key). Same columns, same key.
CREATE TABLE message_states_rowid (
    message_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    format INTEGER NOT NULL,
    state BLOB NOT NULL
);
INSERT INTO message_states_rowid (message_id, version, format, state)
    SELECT message_id, version, format, state FROM message_states;
DROP TABLE message_states;
ALTER TABLE message_states_rowid RENAME TO message_states;
