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

State = list[Any]
"""A message's row being folded: its values in ``COLUMNS`` order (a row loaded from the
view holds only the ``MUTABLE`` ones; the others are ``None``)."""

(
    _ID,
    _SEQ,
    _ACCOUNT,
    _BATCH,
    _SENDER,
    _RECIPIENT,
    _SEGMENTS,
    _ENCODING,
    _UNIT_PRICE,
    _PRICE,
    _CURRENCY,
    _STATUS,
    _GROUP,
    _FINAL,
    _CHARGED_TO,
    _CHARGE_PERIOD,
    _REFUNDED,
    _REFUNDED_TO,
    _REFUND_PERIOD,
    _REFUND_AMOUNT,
    _CREATED_AT,
    _UPDATED_AT,
    _BODY,
) = range(len(COLUMNS))
_MUTABLE_AT = tuple(COLUMNS.index(c) for c in MUTABLE)

_SHOWN = {code: (st.group.value, st.final) for code, st in STATUS_CODES.items()}
"""Each status code's group and finality, as the view stores them."""


def _rejected(row: State, e: Any) -> None:
    row[_STATUS] = e.code


def _funded(row: State, e: Any) -> None:
    row[_STATUS] = FUNDED
    row[_CHARGED_TO] = e.charged_to
    row[_CHARGE_PERIOD] = e.period


def _refunded(row: State, e: Any) -> None:
    row[_REFUNDED] = True
    row[_REFUNDED_TO] = e.refunded_to
    row[_REFUND_PERIOD] = e.period
    row[_REFUND_AMOUNT] = e.amount


def _handed_off(row: State, e: Any) -> None:
    if may_move(row[_STATUS], DELIVERED_TO_GATEWAY):
        row[_STATUS] = DELIVERED_TO_GATEWAY


def _report_applied(row: State, e: Any) -> None:
    row[_STATUS] = e.status


def _unchanged(row: State, e: Any) -> None:
    """A history-only event (a superseded report): only ``updated_at`` moves."""


def _to(code: int) -> Callable[[State, Any], None]:
    def handler(row: State, e: Any) -> None:
        row[_STATUS] = code

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
        # Keyed by the id's integer: a UUID hashes in Python, an int in C, and this
        # runs three times an event.
        created: set[int] = set()
        seen: dict[int, UUID] = {}
        for logged in events:
            mid = logged.event.originator_id
            if logged.topic == ACCEPTED_TOPIC:
                created.add(mid.int)
            else:
                seen[mid.int] = mid
        before = [mid for key, mid in seen.items() if key not in created]
        touched = self._load(cur, before) if before else {}
        new: dict[int, State] = {}
        handlers = HANDLERS
        for logged in events:
            e = logged.event
            key = e.originator_id.int
            if logged.topic == ACCEPTED_TOPIC:
                new[key] = [
                    e.originator_id,
                    logged.position,
                    e.account_id,
                    e.batch_id,
                    e.sender,
                    e.recipient,
                    e.segments,
                    e.encoding,
                    e.unit_price,
                    e.price,
                    e.currency,
                    ACCEPTED,
                    None,
                    None,
                    None,
                    None,
                    False,
                    None,
                    None,
                    0,
                    e.timestamp,
                    e.timestamp,
                    shown_body(e.body),
                ]
                continue
            row = new.get(key) or touched.get(key)
            if row is None:  # an event of a message never accepted: nothing to show
                continue
            handlers[logged.topic](row, e)
            row[_UPDATED_AT] = e.timestamp
        shown = _SHOWN
        inserts = list(new.values())
        native = s.native
        uuid, time = s.uuid, s.time
        for r in inserts:
            r[_GROUP], r[_FINAL] = shown[r[_STATUS]]
            if not native:
                r[_ID], r[_ACCOUNT], r[_BATCH] = uuid(r[_ID]), uuid(r[_ACCOUNT]), uuid(r[_BATCH])
                r[_CREATED_AT], r[_UPDATED_AT] = time(r[_CREATED_AT]), time(r[_UPDATED_AT])
        s.insert_many(cur, "view_messages", COLUMNS, inserts)
        updates = []
        for r in touched.values():
            group, final = shown[r[_STATUS]]
            updates.append(
                (
                    r[_STATUS],
                    r[_CHARGED_TO],
                    r[_CHARGE_PERIOD],
                    r[_REFUNDED],
                    r[_REFUNDED_TO],
                    r[_REFUND_PERIOD],
                    r[_REFUND_AMOUNT],
                    time(r[_UPDATED_AT]),
                    group,
                    final,
                    uuid(r[_ID]),
                )
            )
        s.update_rows(cur, "view_messages", ("id", "uuid"), UPDATED, updates)

    def _load(self, cur: Any, ids: list[UUID]) -> dict[int, State]:
        s = self.store
        rows = s.select_in(
            cur,
            f"SELECT id, {', '.join(MUTABLE)} FROM view_messages WHERE {{cond}}",
            "id",
            [s.uuid(i) for i in ids],
        )
        out: dict[int, State] = {}
        for row in rows:
            state: State = [None] * len(COLUMNS)
            mid = state[_ID] = s.to_uuid(row[0])
            for at, value in zip(_MUTABLE_AT, row[1:], strict=True):
                state[at] = value
            state[_REFUNDED] = bool(state[_REFUNDED])
            state[_UPDATED_AT] = s.to_time(state[_UPDATED_AT])
            out[mid.int] = state
        return out

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM view_messages")
