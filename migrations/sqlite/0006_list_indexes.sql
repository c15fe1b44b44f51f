-- Lists an operator and an admin page through by cursor: every page is one index range.
CREATE INDEX view_accounts_opened ON view_accounts (opened_at, id);
CREATE INDEX api_keys_account_created ON api_keys (account_id, created_at, id);
