"""The contact book's views: live contacts, groups with member counts, memberships.

Written from the ``Contact`` and ``Group`` events. Every contact event carries its whole
new state (names, groups), so a row is replaced, never patched from history. A
contact's memberships are replaced with its row; the member count of every group a
page touched is counted again at the end of the page, from the memberships, in the same
transaction: a count is always exactly its rows, however the page was cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from smsledger.domain.contacts import GROUP_SEPARATOR
from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

C = "smsledger:Contact."
SAVED = C + "Saved"
CHANGED = C + "Changed"
DELETED = C + "Deleted"
RECREATED = C + "Recreated"
GROUP_NAMED = "smsledger:Group.Named"


@dataclass(slots=True)
class _Contact:
    """A contact's state after a page: ``whole`` if the page saved it (a row is
    written), else only what a change carries (the row is updated)."""

    whole: bool
    account_id: UUID | None
    msisdn: str | None
    first_name: str
    last_name: str
    groups: list[UUID]
    names: str
    source: str | None
    created_at: datetime | None
    updated_at: datetime


def group_names(groups: dict[str, str]) -> str:
    """A contact's group names as the view keeps them: sorted, ``|``-separated."""
    return GROUP_SEPARATOR.join(sorted(groups.values(), key=str.casefold))


class ContactsProjection(Projection):
    name = "contacts"
    topics = (GROUP_NAMED, SAVED, CHANGED, DELETED, RECREATED)

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        # A page is folded first: each contact's last event gives its state after the
        # page (every event carries the whole state), then each table is written in a
        # few statements. One statement per event made a 10,000-line import take 24 s
        # to project on PostgreSQL; folded, 2.3-3.1 s (docs/projections.md).
        s, ph = self.store, self.store.ph
        touched: set[UUID] = set()  # groups whose count is due
        final: dict[UUID, _Contact | None] = {}  # None: deleted
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
                touched.add(e.originator_id)
            elif logged.topic == DELETED:
                final[e.originator_id] = None
            elif logged.topic == CHANGED:
                before = final.get(e.originator_id)
                final[e.originator_id] = _Contact(
                    whole=before is not None and before.whole,
                    account_id=before.account_id if before else None,
                    msisdn=before.msisdn if before else None,
                    first_name=e.first_name,
                    last_name=e.last_name,
                    groups=[UUID(g) for g in e.groups],
                    names=group_names(e.groups),
                    source=before.source if before else None,
                    created_at=before.created_at if before else None,
                    updated_at=e.timestamp,
                )
            else:  # Saved, Recreated: a contact (again), created now
                final[e.originator_id] = _Contact(
                    whole=True,
                    account_id=e.account_id,
                    msisdn=e.msisdn,
                    first_name=e.first_name,
                    last_name=e.last_name,
                    groups=[UUID(g) for g in e.groups],
                    names=group_names(e.groups),
                    source=e.source,
                    created_at=e.timestamp,
                    updated_at=e.timestamp,
                )
        if final:
            self._write_contacts(cur, final, touched)
        for group in sorted(touched):
            cur.execute(
                "UPDATE view_groups SET members = "
                f"(SELECT COUNT(*) FROM view_group_members WHERE group_id = {ph}) WHERE id = {ph}",
                [s.uuid(group), s.uuid(group)],
            )

    def _write_contacts(
        self, cur: Any, final: dict[UUID, _Contact | None], touched: set[UUID]
    ) -> None:
        s, ph = self.store, self.store.ph
        ids = [s.uuid(c) for c in final]
        # The groups they were in are due a count; their memberships are rewritten.
        old = s.select_in(
            cur, "SELECT group_id FROM view_group_members WHERE {cond}", "contact_id", ids
        )
        touched.update(s.to_uuid(r[0]) for r in old)
        for start in range(0, len(ids), 900):
            cond, args = s.any_of("contact_id", ids[start : start + 900])
            cur.execute(f"DELETE FROM view_group_members WHERE {cond}", args)
        gone = [[s.uuid(c)] for c, state in final.items() if state is None]
        s.update_many(cur, f"DELETE FROM view_contacts WHERE id = {ph}", gone)
        whole = {c: state for c, state in final.items() if state is not None and state.whole}
        s.update_many(
            cur,
            "INSERT INTO view_contacts (id, account_id, msisdn, first_name, last_name, "
            "group_names, source, created_at, updated_at) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, "
            "last_name = excluded.last_name, group_names = excluded.group_names, "
            "source = excluded.source, created_at = excluded.created_at, "
            "updated_at = excluded.updated_at",
            [self._row(c, state) for c, state in whole.items()],
        )
        changed = {c: state for c, state in final.items() if state is not None and not state.whole}
        s.update_many(
            cur,
            f"UPDATE view_contacts SET first_name = {ph}, last_name = {ph}, "
            f"group_names = {ph}, updated_at = {ph} WHERE id = {ph}",
            [
                [
                    state.first_name,
                    state.last_name,
                    state.names,
                    s.time(state.updated_at),
                    s.uuid(c),
                ]
                for c, state in changed.items()
            ],
        )
        # A changed contact's number is its row's (the page did not carry it).
        numbers = {c: state.msisdn for c, state in whole.items()}
        if changed:
            rows = s.select_in(
                cur,
                "SELECT id, msisdn FROM view_contacts WHERE {cond}",
                "id",
                [s.uuid(c) for c in changed],
            )
            numbers.update({s.to_uuid(r[0]): r[1] for r in rows})
        members: list[list[Any]] = []
        for c, state in [*whole.items(), *changed.items()]:
            number = numbers.get(c)
            if number is None:
                continue  # no row to be a member with
            members.extend([s.uuid(g), number, s.uuid(c)] for g in state.groups)
            touched.update(state.groups)
        s.insert_many(cur, "view_group_members", ("group_id", "msisdn", "contact_id"), members)

    def _row(self, contact: UUID, state: _Contact) -> list[Any]:
        s = self.store
        assert state.account_id is not None
        assert state.created_at is not None
        return [
            s.uuid(contact),
            s.uuid(state.account_id),
            state.msisdn,
            state.first_name,
            state.last_name,
            state.names,
            state.source,
            s.time(state.created_at),
            s.time(state.updated_at),
        ]

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM view_group_members")
        cur.execute("DELETE FROM view_groups")
        cur.execute("DELETE FROM view_contacts")
