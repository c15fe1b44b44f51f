-- The contact book (projection "contacts"): one row per live contact, one per group
-- with its member count, and one per membership (a group's members in number order,
-- read by a send to the group). A deleted contact has no row; its history is in the log.
CREATE TABLE view_contacts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    msisdn TEXT NOT NULL,             -- E.164; one contact per account and number
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    group_names TEXT NOT NULL,        -- the groups' names, '|'-separated, sorted
    source TEXT NOT NULL,             -- manual | inbound_save | import
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX view_contacts_account ON view_contacts (account_id, msisdn);

CREATE TABLE view_groups (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,               -- as first named
    name_key TEXT NOT NULL,           -- case-folded: the name two spellings share
    members INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX view_groups_account ON view_groups (account_id, name_key);

CREATE TABLE view_group_members (
    group_id TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (group_id, msisdn)
);
CREATE INDEX view_group_members_contact ON view_group_members (contact_id);
