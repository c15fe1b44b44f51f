"""Report ingest from plain data: the rows a batch of delivery reports writes, built
without ``Message`` aggregates or the library's event objects.

``Ledger.record_delivery_reports`` used to load each message as an aggregate, let it
record its report as an event object, and hand every event to the mapper and its
transcoder (tag each value, encode) and every message to ``message_state.encode``:
about 45 us a report of Python, half of a 1,000-report batch. Here a message is its
current-state row as parsed JSON (``message_states``), each report is judged by the
domain's own rule (``judge_report``; refunds by ``refund_due``), and the rows are
written straight away: each event's JSON spliced from a per-batch prefix, the state
row re-encoded from the dict it was read into.

The bytes are the aggregate path's, byte for byte (topic, version, state; the
message's row): ``tests/integration/test_bulk_reports.py`` writes the same input both
ways on both databases and compares the stored rows, and ``Ledger`` checks once per
store that its mapper encodes a probe event exactly as this module does (a store with
a compressor, a cipher or another transcoder keeps the aggregate path).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic

from smsledger.domain.message import Message, judge_report, refund_due
from smsledger.domain.periods import period_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from eventsourcing.persistence import StoredEvent

    from smsledger.domain.reports import IncomingReport

REPORT_APPLIED = get_topic(Message.ReportApplied)  # type: ignore[attr-defined]
REPORT_SUPERSEDED = get_topic(Message.ReportSuperseded)  # type: ignore[attr-defined]
REFUNDED = get_topic(Message.Refunded)  # type: ignore[attr-defined]

EventRow = tuple[UUID, int, str, bytes]
"""A stored event as plain data: originator id, version, topic, encoded state."""

StateRow = tuple[UUID, int, bytes]
"""A ``message_states`` row: message id, the version it summarises, encoded state."""


class NotPlainError(Exception):
    """A report's ``raw`` holds a value orjson would not write as the transcoder does
    (a subclass of a JSON type): the batch goes the aggregate path instead."""


@dataclass(slots=True)
class Loaded:
    """A message as the fast path holds it: the version its state is at, the state
    (the attributes ``message_state.encode`` writes, in its order) and its report keys
    as the set the aggregate would hold (so a state row lists them in the same order)."""

    id: UUID
    version: int
    state: dict[str, Any]
    keys: set[tuple[object, str]]
    events: list[EventRow] | None = None  # this batch's, once it has any


def from_row(message_id: UUID, version: int, data: bytes) -> Loaded:
    """A message from its current-state row, as ``message_state.decode`` reads it."""
    state: dict[str, Any] = orjson.loads(data)
    keys = {(code, at) for code, at in state["report_keys"]}
    return Loaded(message_id, version, state, keys)


def from_message(message: Message) -> Loaded:
    """A message loaded from its events (no row, or one behind them)."""
    state = dict(vars(message))
    del state["_id"], state["_version"], state["_pending_events"]
    return Loaded(message.id, message.version, state, message.report_keys)


@dataclass
class ReportRows:
    """What a batch writes: one result per report, its events in the order the
    aggregate path saves them (message by message, in the order they first changed),
    each changed message's new row, and the balance refunds by account."""

    results: list[dict[str, str]] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    states: list[StateRow] = field(default_factory=list)
    refunds: dict[UUID, list[tuple[UUID, int]]] = field(default_factory=dict)


_TAGGED_TIME = b'{"_type_":"datetime_iso","_data_":"'


def build(
    reports: Sequence[Any],
    parsed: Sequence[IncomingReport | None],
    messages: dict[UUID, Loaded],
    now: datetime,
) -> ReportRows:
    """The rows for ``reports`` (their parsed forms in ``parsed``) applied at ``now`` to
    ``messages`` (changed in place). Raises ``NotPlainError`` for a ``raw`` the plain
    encoding cannot promise to write as the transcoder does."""
    out = ReportRows()
    results = out.results
    head = _report_head(now)
    changed: list[Loaded] = []  # in the order they first changed
    times: dict[datetime, str] = {}  # a batch's reports share a few carrier times
    dumps = orjson.dumps
    passthrough = orjson.OPT_PASSTHROUGH_SUBCLASS
    for report, p in zip(reports, parsed, strict=True):
        if p is None:
            given = report.get("message_id") if isinstance(report, dict) else None
            results.append({"message_id": str(given or ""), "outcome": "invalid"})
            continue
        mid = p.message_id
        message = messages.get(mid)
        if message is None:
            results.append({"message_id": str(mid), "outcome": "unknown_message"})
            continue
        at = times.get(p.at)
        if at is None:
            at = times[p.at] = p.at.isoformat()
        state = message.state
        code = p.code
        outcome, interpreted = judge_report(state["status"], message.keys, code, at)
        results.append({"message_id": str(mid), "outcome": outcome})
        if outcome == "duplicate":
            continue
        try:
            raw = dumps(p.raw, option=passthrough)
        except TypeError:
            raise NotPlainError from None
        message.keys.add((code, at))
        if outcome == "applied":
            state["status"] = interpreted
            state["handed_off"] = True  # a report means a gateway has it
            topic = REPORT_APPLIED
        else:
            topic = REPORT_SUPERSEDED
        message.version += 1
        row = (mid, message.version, topic, _report_state(head, code, interpreted, at, raw))
        if message.events is None:
            message.events = [row]
            changed.append(message)
        else:
            message.events.append(row)
    refund_head = _refund_head(now)
    events = out.events
    for message in changed:
        state = message.state
        charged_to = state["charged_to"]
        assert message.events is not None
        events += message.events
        if refund_due(
            state["status"],
            charged=charged_to is not None,
            refunded=state["refunded"],
            handed_off=state["handed_off"],
            hand_off_recorded=state["hand_off_recorded"],
        ):
            state["refunded"] = True
            message.version += 1
            period = period_of(now, state["timezone"])
            events.append(
                (message.id, message.version, REFUNDED, _refund_state(refund_head, state, period))
            )
            if charged_to == "balance":
                account = state["account_id"]
                if type(account) is not UUID:
                    account = _uuid(account)
                out.refunds.setdefault(account, []).append((message.id, state["price"]))
        state["_modified_on"] = now
        state["report_keys"] = list(message.keys)  # what ``default=list`` would give
        out.states.append((message.id, message.version, dumps(state)))
    return out


# The events' fields in their dataclass order, as the mapper writes them (the
# transcoder tags each datetime as {"_type_": "datetime_iso", "_data_": isoformat}).
def _report_head(now: datetime) -> bytes:
    return b'{"timestamp":' + _TAGGED_TIME + now.isoformat().encode() + b'"},"code":'


def _report_state(head: bytes, code: int, interpreted: int, at: str, raw: bytes) -> bytes:
    return b"".join(
        (
            head,
            str(code).encode(),
            b',"status":',
            str(interpreted).encode(),
            b',"carrier_at":',
            _TAGGED_TIME,
            at.encode(),
            b'"},"raw":',
            raw,
            b"}",
        )
    )


def _refund_head(now: datetime) -> bytes:
    return b'{"timestamp":' + _TAGGED_TIME + now.isoformat().encode() + b'"},"amount":'


def _refund_state(head: bytes, state: dict[str, Any], period: str) -> bytes:
    return b"".join(
        (
            head,
            str(state["price"]).encode(),
            b',"refunded_to":',
            orjson.dumps(state["charged_to"]),
            b',"period":',
            orjson.dumps(period),
            b"}",
        )
    )


def encodes_as_mapper(to_stored_event: Callable[[Any], StoredEvent]) -> bool:
    """Whether a store's mapper writes a report's and a refund's events as this module
    does: a probe of each, at an instant with microseconds and a raw payload of every
    JSON kind. Any difference (a compressor, a cipher, another transcoder) is ``False``."""
    now = datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=UTC)
    at = datetime(2026, 11, 2, 8, 59, 1, tzinfo=UTC)
    raw = {"s": "DELIVRD ö", "n": [1, -2.5, True, None], "o": {"k": ""}}
    mid = UUID(int=1)
    applied = Message.ReportApplied(  # type: ignore[attr-defined]
        originator_id=mid,
        originator_version=5,
        timestamp=now,
        code=201,
        status=201,
        carrier_at=at,
        raw=raw,
    )
    refunded = Message.Refunded(  # type: ignore[attr-defined]
        originator_id=mid,
        originator_version=6,
        timestamp=now,
        amount=45,
        refunded_to="balance",
        period="2026-11",
    )
    state = {"price": 45, "charged_to": "balance"}
    ours = [
        (
            mid,
            5,
            REPORT_APPLIED,
            _report_state(_report_head(now), 201, 201, at.isoformat(), orjson.dumps(raw)),
        ),
        (mid, 6, REFUNDED, _refund_state(_refund_head(now), state, "2026-11")),
    ]
    theirs = [to_stored_event(e) for e in (applied, refunded)]
    return [(e.originator_id, e.originator_version, e.topic, e.state) for e in theirs] == ours


# One account id recurs across a batch's rows; UUIDs are immutable, so sharing is safe.
@functools.lru_cache(maxsize=4096)
def _uuid(text: str) -> UUID:
    return UUID(text)
