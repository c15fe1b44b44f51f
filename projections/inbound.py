"""The inbound view: SMS received on virtual numbers, and every change of a block list.

``view_inbound_messages`` is one row per ``InboundMessage`` (what
``GET /v1/accounts/{id}/inbound-messages`` lists, newest first). ``view_number_events``
is one row per ``Account.NumberBlocked`` / ``NumberUnblocked``, with its source and the
STOP that asked for it, so ``smsledger history +46...`` answers when and why a number
was blocked on each account without replaying every account's stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

RECEIVED = "smsledger:InboundMessage.Received"
BLOCKED = "smsledger:Account.NumberBlocked"
UNBLOCKED = "smsledger:Account.NumberUnblocked"

INBOUND_COLUMNS = (
    "id",
    "seq",
    "account_id",
    "to_number",
    "from_number",
    "body",
    "at",
    "action",
    "received_at",
)
NUMBER_EVENT_COLUMNS = ("seq", "account_id", "msisdn", "change", "source", "inbound_id", "at")


class InboundProjection(Projection):
    name = "inbound"
    topics = (RECEIVED, BLOCKED, UNBLOCKED)

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        s = self.store
        inbound: list[tuple[Any, ...]] = []
        changes: list[tuple[Any, ...]] = []
        for logged in events:
            e = logged.event
            if logged.topic == RECEIVED:
                inbound.append(
                    (
                        s.uuid(e.originator_id),
                        logged.position,
                        s.uuid(e.account_id),
                        e.to,
                        e.sender,
                        e.body,
                        s.time(e.at),
                        e.action,
                        s.time(e.timestamp),
                    )
                )
                continue
            blocked = logged.topic == BLOCKED
            inbound_id = getattr(e, "inbound_id", None) if blocked else None
            changes.append(
                (
                    logged.position,
                    s.uuid(e.originator_id),
                    e.msisdn,
                    "blocked" if blocked else "unblocked",
                    e.source if blocked else None,
                    None if inbound_id is None else s.uuid(UUID(inbound_id)),
                    s.time(e.timestamp),
                )
            )
        # Rows are keyed by the event (its id, its position): a page applied again after
        # a crash before its tracking commit finds them there and adds nothing.
        if inbound:
            cur.executemany(
                f"INSERT INTO view_inbound_messages ({', '.join(INBOUND_COLUMNS)}) "
                f"VALUES ({s.marks(len(INBOUND_COLUMNS))}) ON CONFLICT (id) DO NOTHING",
                inbound,
            )
        if changes:
            cur.executemany(
                f"INSERT INTO view_number_events ({', '.join(NUMBER_EVENT_COLUMNS)}) "
                f"VALUES ({s.marks(len(NUMBER_EVENT_COLUMNS))}) ON CONFLICT (seq) DO NOTHING",
                changes,
            )

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM view_inbound_messages")
        cur.execute("DELETE FROM view_number_events")
