-- The console (issue 14). A session may belong to an API key as well as to a user: a
-- person who logs in to the console with a key gets a session of their own (the key
-- itself is never put in a cookie), and revoking the key ends it at once. Such a
-- session's user_id is the key's id (user ids are derived from addresses, never equal).
ALTER TABLE user_sessions ADD COLUMN key_id uuid;

-- An invoice line's messages, a page at a time: a line is one (period, country, unit
-- price) of an account, and the drill-down pages by message id inside it.
CREATE INDEX view_invoice_messages_line
    ON view_invoice_messages (account_id, charge_period, country, unit_price, message_id);
