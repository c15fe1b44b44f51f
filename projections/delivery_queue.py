"""The delivery queue: funded messages on their way to a gateway, until they are final.

``delivery_queue`` holds one row per funded message that is not final, with its state
(funded, sending, handed off), ``due_at`` and ``expires_at``. It is a projection like
the others: rows and the tracking position commit together, so a restart neither loses
nor repeats an event. The dispatcher (``smsledger.workers.dispatcher``) reads it by
``due_at`` for hand-offs, the sweeper (``smsledger.workers.sweeper``) by ``expires_at``;
each follows the log into it with its own runner, and the two take turns safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from smsledger.domain.status import STATUS_CODES
from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

TRACKING_NAME = "dispatcher"

_P = "smsledger:Message."
_GONE = frozenset({"Rejected", "HandOffFailed", "Canceled", "Expired", "NoReceipt"})


@dataclass
class _Row:
    new: bool
    deleted: bool = False
    state: str | None = None
    due_at: datetime | None = None
    expires_at: datetime | None = None
    gateway_ref: str | None = None
    updated_at: datetime | None = None


class DeliveryQueue(Projection):
    """``delivery_queue``: funded messages on their way, until they are final."""

    name: ClassVar[str] = TRACKING_NAME
    topics: ClassVar[tuple[str, ...]] = tuple(
        _P + t
        for t in (
            "Accepted",
            "Rejected",
            "Funded",
            "Sending",
            "HandedOff",
            "HandOffFailed",
            "ReportApplied",
            "Canceled",
            "Expired",
            "NoReceipt",
        )
    )

    def __init__(self, store: ViewStore) -> None:
        self.sql = store

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        # Fold the page per message in memory, then write each row once.
        rows: dict[UUID, _Row] = {}
        for logged in events:
            e = logged.event
            kind = logged.topic[len(_P) :]
            mid: UUID = e.originator_id
            if kind == "Accepted":
                due = e.send_at or e.timestamp
                rows[mid] = _Row(
                    new=True,
                    state="accepted",
                    due_at=due,
                    expires_at=due + timedelta(seconds=e.validity_period),
                )
            row = rows.setdefault(mid, _Row(new=False))
            row.updated_at = e.timestamp
            if kind in _GONE or (kind == "ReportApplied" and STATUS_CODES[e.status].final):
                row.deleted = True
            elif kind == "Funded":
                row.state = "funded"
            elif kind == "Sending":
                row.state = "sending"
            elif kind == "HandedOff":
                row.state, row.gateway_ref = "handed_off", e.gateway_ref
            elif kind == "ReportApplied":
                row.state = "handed_off"  # a report means a gateway has it
        self._write(cur, rows)

    def _write(self, cur: Any, rows: dict[UUID, _Row]) -> None:
        s, ph = self.sql, self.sql.ph
        deletes = [(s.uuid(mid),) for mid, r in rows.items() if r.deleted and not r.new]
        inserts = [
            (
                s.uuid(mid),
                r.state,
                s.time(r.due_at),
                s.time(r.expires_at),
                r.gateway_ref,
                s.time(r.updated_at),
            )
            for mid, r in rows.items()
            if r.new and not r.deleted and r.due_at and r.expires_at and r.updated_at
        ]
        updates = [
            (r.state, r.gateway_ref, s.time(r.updated_at), s.uuid(mid))
            for mid, r in rows.items()
            if not r.new and not r.deleted and r.state is not None and r.updated_at
        ]
        if deletes:
            cur.executemany(f"DELETE FROM delivery_queue WHERE message_id = {ph}", deletes)
        if inserts:
            cur.executemany(
                "INSERT INTO delivery_queue (message_id, state, due_at, expires_at, gateway_ref, "
                f"updated_at) VALUES ({s.marks(6)}) ON CONFLICT (message_id) DO UPDATE SET "
                "state = excluded.state, gateway_ref = excluded.gateway_ref, "
                "updated_at = excluded.updated_at",
                inserts,
            )
        if updates:
            cur.executemany(
                f"UPDATE delivery_queue SET state = {ph}, gateway_ref = COALESCE({ph}, "
                f"gateway_ref), updated_at = {ph} WHERE message_id = {ph}",
                updates,
            )

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM delivery_queue")
