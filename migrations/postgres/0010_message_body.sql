-- A message's final body (its unsubscribe link included) in the message view, so
-- GET /v1/messages/{id} and the batch's pages show what the recipient gets. Rows
-- projected before stay NULL until `smsledger project --rebuild message_status`.
ALTER TABLE view_messages ADD COLUMN body TEXT;
