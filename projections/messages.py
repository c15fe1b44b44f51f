"""Message status view: one row per message with its current status and money facts.

Rows are created from ``Message.Accepted`` (which carries every fact) and changed by the
message's later events. Each page is applied in two statements: the page's new rows go
in at once, and the rows that existed before the page are loaded once, folded in memory
through the page's events, and written back at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smsledger.domain.segments import shown_body
from smsledger.domain.status import (
    ACCEPTED,
    CANCELED,
    DELIVERED_TO_GATEWAY,
    DELIVERY_TO_GATEWAY_FAILED,
    EXPIRED,
    FUNDED,
    SENDING,
    STATUS_CODES,
    UNKNOWN,
    may_move,
)
from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from uuid import UUID

    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

P = "smsledger:Message."
ACCEPTED_TOPIC = P + "Accepted"

COLUMNS = (
    "id",
    "seq",
    "account_id",
    "batch_id",
    "sender",
    "recipient",
    "segments",
    "encoding",
    "unit_price",
    "price",
    "currency",
    "status",
    "status_group",
    "final",
    "charged_to",
    "charge_period",
    "refunded",
    "refunded_to",
    "refund_period",
    "refund_amount",
    "created_at",
    "updated_at",
    "body",
)
# What later events change (with their SQL types); the rest is fixed at acceptance.
UPDATED = (
    ("status", "integer"),
    ("charged_to", "text"),
    ("charge_period", "text"),
    ("refunded", "boolean"),
    ("refunded_to", "text"),
    ("refund_period", "text"),
    ("refund_amount", "bigint"),
    ("updated_at", "timestamptz"),
    ("status_group", "text"),
    ("final", "boolean"),
)
MUTABLE = (
    "status",
    "charged_to",
    "charge_period",
    "refunded",
    "refunded_to",
    "refund_period",
    "refund_amount",
    "updated_at",
)

State = dict[str, Any]


def _rejected(row: State, e: Any) -> None:
    row["status"] = e.code


def _funded(row: State, e: Any) -> None:
    row["status"] = FUNDED
    row["charged_to"] = e.charged_to
    row["charge_period"] = e.period


def _refunded(row: State, e: Any) -> None:
    row["refunded"] = True
    row["refunded_to"] = e.refunded_to
    row["refund_period"] = e.period
    row["refund_amount"] = e.amount


def _handed_off(row: State, e: Any) -> None:
    if may_move(row["status"], DELIVERED_TO_GATEWAY):
        row["status"] = DELIVERED_TO_GATEWAY


def _report_applied(row: State, e: Any) -> None:
    row["status"] = e.status


def _unchanged(row: State, e: Any) -> None:
    """A history-only event (a superseded report): only ``updated_at`` moves."""


def _to(code: int) -> Callable[[State, Any], None]:
    def handler(row: State, e: Any) -> None:
        row["status"] = code

    return handler


# Mirrors the status changes of ``domain/message.py``: one entry per Message event.
HANDLERS: dict[str, Callable[[State, Any], None]] = {
    P + "Rejected": _rejected,
    P + "Funded": _funded,
    P + "Refunded": _refunded,
    P + "Sending": _to(SENDING),
    P + "HandedOff": _handed_off,
    P + "HandOffFailed": _to(DELIVERY_TO_GATEWAY_FAILED),
    P + "ReportApplied": _report_applied,
    P + "ReportSuperseded": _unchanged,
    P + "Canceled": _to(CANCELED),
    P + "Expired": _to(EXPIRED),
    P + "NoReceipt": _to(UNKNOWN),
    # The recipient opted out through the message's link: the block list (an Account
    # event) is what changes; the view only notes when the message last changed.
    P + "UnsubscribeLinkUsed": _unchanged,
}


class MessageStatusProjection(Projection):
    name = "message_status"
    topics = (ACCEPTED_TOPIC, *HANDLERS)

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        s = self.store
        new: dict[UUID, State] = {}
        touched: dict[UUID, State] = {}
        created = {e.event.originator_id for e in events if e.topic == ACCEPTED_TOPIC}
        before = {e.event.originator_id for e in events} - created
        if before:
            touched = self._load(cur, list(before))
        for logged in events:
            e = logged.event
            mid = e.originator_id
            if logged.topic == ACCEPTED_TOPIC:
                new[mid] = {
                    "id": mid,
                    "seq": logged.position,
                    "account_id": e.account_id,
                    "batch_id": e.batch_id,
                    "sender": e.sender,
                    "recipient": e.recipient,
                    "segments": e.segments,
                    "encoding": e.encoding,
                    "unit_price": e.unit_price,
                    "price": e.price,
                    "currency": e.currency,
                    "status": ACCEPTED,
                    "charged_to": None,
                    "charge_period": None,
                    "refunded": False,
                    "refunded_to": None,
                    "refund_period": None,
                    "refund_amount": 0,
                    "created_at": e.timestamp,
                    "updated_at": e.timestamp,
                    "body": shown_body(e.body),
                }
                continue
            row = new.get(mid) or touched.get(mid)
            if row is None:  # an event of a message never accepted: nothing to show
                continue
            HANDLERS[logged.topic](row, e)
            row["updated_at"] = e.timestamp
        uuid, time = s.uuid, s.time
        inserts = []
        for r in new.values():
            st = STATUS_CODES[r["status"]]
            inserts.append(
                (
                    uuid(r["id"]),
                    r["seq"],
                    uuid(r["account_id"]),
                    uuid(r["batch_id"]),
                    r["sender"],
                    r["recipient"],
                    r["segments"],
                    r["encoding"],
                    r["unit_price"],
                    r["price"],
                    r["currency"],
                    r["status"],
                    st.group.value,
                    st.final,
                    r["charged_to"],
                    r["charge_period"],
                    r["refunded"],
                    r["refunded_to"],
                    r["refund_period"],
                    r["refund_amount"],
                    time(r["created_at"]),
                    time(r["updated_at"]),
                    r["body"],
                )
            )
        s.insert_many(cur, "view_messages", COLUMNS, inserts)
        updates = []
        for mid, r in touched.items():
            st = STATUS_CODES[r["status"]]
            updates.append(
                (
                    r["status"],
                    r["charged_to"],
                    r["charge_period"],
                    r["refunded"],
                    r["refunded_to"],
                    r["refund_period"],
                    r["refund_amount"],
                    time(r["updated_at"]),
                    st.group.value,
                    st.final,
                    uuid(mid),
                )
            )
        s.update_rows(cur, "view_messages", ("id", "uuid"), UPDATED, updates)

    def _load(self, cur: Any, ids: list[UUID]) -> dict[UUID, State]:
        s = self.store
        rows = s.select_in(
            cur,
            f"SELECT id, {', '.join(MUTABLE)} FROM view_messages WHERE {{cond}}",
            "id",
            [s.uuid(i) for i in ids],
        )
        out: dict[UUID, State] = {}
        for row in rows:
            state = dict(zip(MUTABLE, row[1:], strict=True))
            state["refunded"] = bool(state["refunded"])
            state["updated_at"] = s.to_time(state["updated_at"])
            out[s.to_uuid(row[0])] = state
        return out

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM view_messages")
