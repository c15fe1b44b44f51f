-- The contact book (projection "contacts"): one row per live contact, one per group
-- with its member count, and one per membership (a group's members in number order,
-- read by a send to the group). A deleted contact has no row; its history is in the log.
CREATE TABLE view_contacts (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    msisdn text NOT NULL,             -- E.164; one contact per account and number
    first_name text NOT NULL,
    last_name text NOT NULL,
    group_names text NOT NULL,        -- the groups' names, '|'-separated, sorted
    source text NOT NULL,             -- manual | inbound_save | import
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX view_contacts_account ON view_contacts (account_id, msisdn);

CREATE TABLE view_groups (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    name text NOT NULL,               -- as first named
    name_key text NOT NULL,           -- case-folded: the name two spellings share
    members bigint NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX view_groups_account ON view_groups (account_id, name_key);

CREATE TABLE view_group_members (
    group_id uuid NOT NULL,
    msisdn text NOT NULL,
    contact_id uuid NOT NULL,
    PRIMARY KEY (group_id, msisdn)
);
CREATE INDEX view_group_members_contact ON view_group_members (contact_id);
