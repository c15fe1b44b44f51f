"""The contact book's views: live contacts, groups with member counts, memberships.

Written from the ``Contact`` and ``Group`` events. Every contact event carries its whole
new state (names, groups), so a row is replaced, never patched from history. A
contact's memberships are replaced with its row; the member count of every group a
page touched is counted again at the end of the page, from the memberships, in the same
transaction: a count is always exactly its rows, however the page was cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from smsledger.domain.contacts import GROUP_SEPARATOR
from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

C = "smsledger:Contact."
SAVED = C + "Saved"
CHANGED = C + "Changed"
DELETED = C + "Deleted"
RECREATED = C + "Recreated"
GROUP_NAMED = "smsledger:Group.Named"


def group_names(groups: dict[str, str]) -> str:
    """A contact's group names as the view keeps them: sorted, ``|``-separated."""
    return GROUP_SEPARATOR.join(sorted(groups.values(), key=str.casefold))


class ContactsProjection(Projection):
    name = "contacts"
    topics = (GROUP_NAMED, SAVED, CHANGED, DELETED, RECREATED)

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        s, ph = self.store, self.store.ph
        touched: set[str] = set()  # group ids (hex) whose count is due
        for logged in events:
            e = logged.event
            if logged.topic == GROUP_NAMED:
                cur.execute(
                    "INSERT INTO view_groups (id, account_id, name, name_key, members, created_at) "
                    f"VALUES ({ph}, {ph}, {ph}, {ph}, 0, {ph}) ON CONFLICT (id) DO NOTHING",
                    [
                        s.uuid(e.originator_id),
                        s.uuid(e.account_id),
                        e.name,
                        e.key,
                        s.time(e.timestamp),
                    ],
                )
                touched.add(e.originator_id.hex)
                continue
            contact = s.uuid(e.originator_id)
            touched.update(self._groups_of(cur, contact))
            cur.execute(f"DELETE FROM view_group_members WHERE contact_id = {ph}", [contact])
            at = s.time(e.timestamp)
            if logged.topic == DELETED:
                cur.execute(f"DELETE FROM view_contacts WHERE id = {ph}", [contact])
                continue
            if logged.topic == CHANGED:
                cur.execute(
                    f"UPDATE view_contacts SET first_name = {ph}, last_name = {ph}, "
                    f"group_names = {ph}, updated_at = {ph} WHERE id = {ph}",
                    [e.first_name, e.last_name, group_names(e.groups), at, contact],
                )
            else:  # Saved, Recreated: a contact (again), created now
                cur.execute(
                    "INSERT INTO view_contacts (id, account_id, msisdn, first_name, last_name, "
                    "group_names, source, created_at, updated_at) "
                    f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}) "
                    "ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, "
                    "last_name = excluded.last_name, group_names = excluded.group_names, "
                    "source = excluded.source, created_at = excluded.created_at, "
                    "updated_at = excluded.updated_at",
                    [
                        contact,
                        s.uuid(e.account_id),
                        e.msisdn,
                        e.first_name,
                        e.last_name,
                        group_names(e.groups),
                        e.source,
                        at,
                        at,
                    ],
                )
            for group_hex in e.groups:
                cur.execute(
                    "INSERT INTO view_group_members (group_id, msisdn, contact_id) "
                    f"SELECT {ph}, msisdn, id FROM view_contacts WHERE id = {ph}",
                    [s.uuid(UUID(group_hex)), contact],
                )
            touched.update(e.groups)
        for group_hex in sorted(touched):
            group = s.uuid(UUID(group_hex))
            cur.execute(
                "UPDATE view_groups SET members = "
                f"(SELECT COUNT(*) FROM view_group_members WHERE group_id = {ph}) WHERE id = {ph}",
                [group, group],
            )

    def _groups_of(self, cur: Any, contact: Any) -> list[str]:
        ph = self.store.ph
        cur.execute(f"SELECT group_id FROM view_group_members WHERE contact_id = {ph}", [contact])
        return [self.store.to_uuid(r[0]).hex for r in cur.fetchall()]

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM view_group_members")
        cur.execute("DELETE FROM view_groups")
        cur.execute("DELETE FROM view_contacts")
