-- The unsubscribe link. A message's final body (its link included) in the message view,
-- so GET /v1/messages/{id} and the batch's pages show what the recipient gets; rows
-- projected before stay NULL until `smsledger project --rebuild message_status`.
ALTER TABLE view_messages ADD COLUMN body TEXT;
-- The message whose unsubscribe link blocked a number (`smsledger history +46...`).
ALTER TABLE view_number_events ADD COLUMN message_id TEXT;
