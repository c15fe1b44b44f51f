"""Status callbacks on the read side: where each account's callbacks go, and the outbox.

``WebhookOutboxProjection`` follows the log into three tables, in the transaction that
moves its position (so a callback is never lost nor invented: each row is a recorded
event): ``webhook_endpoints`` (an account's webhook, from ``Account.WebhookConfigured``
and ``WebhookRemoved``), ``webhook_batch_callbacks`` (a batch's ``status_callback``,
from ``Batch.Submitted``) and ``webhook_outbox``, one row per status change of a
message whose batch has a callback (that URL) or whose account has a webhook for
``message.status`` (its URL), as they stood when the change was recorded. The row's
``webhook-id`` is derived from the message and version of the event, so it is the same
however often it is sent, and never the same for two changes.

It must follow ``MessageStatusProjection`` in a page (``all_projections`` order): a
message's account and batch are read from ``view_messages`` (falling back to the event
store for a message that view has not reached). A rebuild clears the endpoints and batch
callbacks but keeps the outbox: its rows carry delivery state the log does not hold, and
rows found again are left as they are (``ON CONFLICT DO NOTHING``), so a rebuild never
sends a callback twice.

``WebhookReads`` are the API's reads (deliveries with their attempts, an endpoint's
state, the numbers for ``/metrics``); ``message_object`` renders a message aggregate in
the shape of ``GET /v1/messages/{id}``, for the callback body and the API alike.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import orjson

from smsledger.domain.errors import InvalidRequestError
from smsledger.domain.message import Message
from smsledger.domain.webhooks import event_id_for, webhook_id_for
from smsledger.projections.queries import message_object
from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from smsledger.projections.db import ViewDatabase
    from smsledger.projections.events import EventLog
    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

NAME = "webhook_outbox"
_M = "smsledger:Message."
ACCEPTED = _M + "Accepted"
CONFIGURED = "smsledger:Account.WebhookConfigured"
REMOVED = "smsledger:Account.WebhookRemoved"
SUBMITTED = "smsledger:Batch.Submitted"
# The message events that may change its status (a HandedOff after an early report does
# not: the worker finds that when it renders the body, and skips it).
STATUS_TOPICS = tuple(
    _M + t
    for t in (
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
OUTBOX_COLUMNS = (
    "webhook_id",
    "position",
    "account_id",
    "message_id",
    "version",
    "event_at",
    "url",
    "state",
    "attempts",
    "next_at",
)
_JSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def callback_body(log: EventLog, message_id: UUID, version: int) -> bytes | None:
    """The body of the callback for a message's event ``version``: the message as it was
    right after that event, plus the event's id and time. ``None`` if that event did not
    change the status (nothing to report). The same bytes on every retry."""
    aggregate: Any = None
    before: int | None = None
    found = False
    for event in log.events.get(message_id, lte=version):
        if event.originator_version == version:
            before = None if aggregate is None else aggregate.status
            found = True
        aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
    if not found or not isinstance(aggregate, Message) or aggregate.status == before:
        return None
    body = message_object(aggregate)
    body["event"] = {
        "id": event_id_for(message_id, version),
        "type": "message.status",
        "at": aggregate.modified_on,
    }
    return orjson.dumps(body, option=_JSON)


class _Endpoint(NamedTuple):
    url: str
    events: list[str]


class WebhookOutboxProjection(Projection):
    name: ClassVar[str] = NAME
    topics: ClassVar[tuple[str, ...]] = (CONFIGURED, REMOVED, SUBMITTED, ACCEPTED, *STATUS_TOPICS)

    def __init__(self, store: ViewStore) -> None:
        self.store = store
        self.log: EventLog | None = None

    def bind(self, ledger: EventLog) -> None:
        self.log = ledger

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        s = self.store
        cur.execute("SELECT account_id, url, events FROM webhook_endpoints")
        endpoints: dict[UUID, _Endpoint | None] = {
            s.to_uuid(a): _Endpoint(u, orjson.loads(e)) for a, u, e in cur.fetchall()
        }
        # A webhook configured (or removed) mid-page counts only for the changes after
        # it: each account's endpoint changes of this page, by position.
        changed: dict[UUID, list[tuple[int, _Endpoint | None]]] = {}
        callbacks: dict[UUID, str] = {}  # batch -> url, this page's batches
        subjects: dict[UUID, tuple[UUID, UUID]] = {}  # message -> (account, batch)
        pending: list[LoggedEvent] = []
        endpoint_writes: dict[UUID, LoggedEvent | None] = {}
        for logged in events:
            e = logged.event
            if logged.topic == CONFIGURED:
                configured = _Endpoint(e.url, list(e.events))
                changed.setdefault(e.originator_id, []).append((logged.position, configured))
                endpoint_writes[e.originator_id] = logged
            elif logged.topic == REMOVED:
                changed.setdefault(e.originator_id, []).append((logged.position, None))
                endpoint_writes[e.originator_id] = None
            elif logged.topic == SUBMITTED:
                url = getattr(e, "status_callback", None)
                if url:
                    callbacks[e.originator_id] = url
                    cur.execute(
                        "INSERT INTO webhook_batch_callbacks (batch_id, account_id, url) "
                        f"VALUES ({s.marks(3)}) ON CONFLICT (batch_id) DO NOTHING",
                        (s.uuid(e.originator_id), s.uuid(e.account_id), url),
                    )
            elif logged.topic == ACCEPTED:
                subjects[e.originator_id] = (e.account_id, e.batch_id)
            else:
                pending.append(logged)
        self._write_endpoints(cur, endpoint_writes)
        if not pending or not (endpoints or changed or callbacks or self._any_batch_callback(cur)):
            return
        self._find_subjects(cur, subjects, {p.event.originator_id for p in pending})
        batches = {
            subjects[p.event.originator_id][1] for p in pending if p.event.originator_id in subjects
        }
        self._load_callbacks(cur, callbacks, batches)
        rows = []
        for logged in pending:
            e = logged.event
            subject = subjects.get(e.originator_id)
            if subject is None:
                continue  # never accepted: nothing to report
            account_id, batch_id = subject
            url = callbacks.get(batch_id)
            if url is None:
                endpoint: _Endpoint | None = endpoints.get(account_id)
                for position, then in changed.get(account_id, ()):
                    if position < logged.position:
                        endpoint = then
                if endpoint is None or "message.status" not in endpoint.events:
                    continue
                url = endpoint.url
            version = e.originator_version
            rows.append(
                (
                    webhook_id_for(event_id_for(e.originator_id, version)),
                    logged.position,
                    s.uuid(account_id),
                    s.uuid(e.originator_id),
                    version,
                    s.time(e.timestamp),
                    url,
                    "pending",
                    0,
                    s.time(e.timestamp),
                )
            )
        if rows:
            cur.executemany(
                f"INSERT INTO webhook_outbox ({', '.join(OUTBOX_COLUMNS)}) "
                f"VALUES ({s.marks(len(OUTBOX_COLUMNS))}) ON CONFLICT (webhook_id) DO NOTHING",
                rows,
            )

    def _write_endpoints(self, cur: Any, writes: dict[UUID, LoggedEvent | None]) -> None:
        s = self.store
        for account_id, logged in writes.items():
            cur.execute(
                f"DELETE FROM webhook_endpoints WHERE account_id = {s.ph}", (s.uuid(account_id),)
            )
            if logged is None:
                continue
            e = logged.event
            until = e.previous_until
            cur.execute(
                "INSERT INTO webhook_endpoints (account_id, url, events, nonce, previous_nonce, "
                f"previous_until, configured_at) VALUES ({s.marks(7)})",
                (
                    s.uuid(account_id),
                    e.url,
                    orjson.dumps(list(e.events)).decode(),
                    e.nonce,
                    e.previous_nonce,
                    None if until is None else s.time(datetime.fromisoformat(until)),
                    s.time(e.timestamp),
                ),
            )

    def _any_batch_callback(self, cur: Any) -> bool:
        cur.execute("SELECT 1 FROM webhook_batch_callbacks LIMIT 1")
        return cur.fetchone() is not None

    def _find_subjects(
        self, cur: Any, subjects: dict[UUID, tuple[UUID, UUID]], wanted: set[UUID]
    ) -> None:
        s = self.store
        missing = [m for m in wanted if m not in subjects]
        if missing:
            for mid, account_id, batch_id in s.select_in(
                cur,
                "SELECT id, account_id, batch_id FROM view_messages WHERE {cond}",
                "id",
                [s.uuid(m) for m in missing],
            ):
                subjects[s.to_uuid(mid)] = (s.to_uuid(account_id), s.to_uuid(batch_id))
        for mid in [m for m in missing if m not in subjects]:
            # view_messages has not reached it (a rebuild of that view in flight).
            found = self._message(mid)
            if found is not None:
                subjects[mid] = (found.account_id, found.batch_id)

    def _message(self, message_id: UUID) -> Message | None:
        if self.log is None:
            return None
        try:
            aggregate: object = self.log.repository.get(message_id)
        except Exception:
            return None
        return aggregate if isinstance(aggregate, Message) else None

    def _load_callbacks(self, cur: Any, callbacks: dict[UUID, str], batches: set[UUID]) -> None:
        s = self.store
        missing = [b for b in batches if b not in callbacks]
        if missing:
            for batch_id, url in s.select_in(
                cur,
                "SELECT batch_id, url FROM webhook_batch_callbacks WHERE {cond}",
                "batch_id",
                [s.uuid(b) for b in missing],
            ):
                callbacks[s.to_uuid(batch_id)] = url

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM webhook_endpoints")
        cur.execute("DELETE FROM webhook_batch_callbacks")


# --- reads ---------------------------------------------------------------------------


class EndpointRow(NamedTuple):
    account_id: Any
    url: str
    events: str
    nonce: str
    previous_nonce: str | None
    previous_until: Any
    configured_at: Any


class DeliveryRow(NamedTuple):
    webhook_id: str
    position: int
    message_id: Any
    version: int
    event_at: Any
    url: str
    state: str
    attempts: int
    next_at: Any
    last_status: int | None
    delivered_at: Any


class AttemptRow(NamedTuple):
    webhook_id: str
    at: Any
    status_code: int | None
    error: str | None
    latency_ms: int
    next_at: Any


ENDPOINT_COLUMNS = ", ".join(EndpointRow._fields)
DELIVERY_COLUMNS = ", ".join(DeliveryRow._fields)
ATTEMPT_COLUMNS = ", ".join(AttemptRow._fields)
_NOT_OURS = "cursor is not one this API gave out"


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(["wh", position])).decode().rstrip("=")


def _position_of(cursor: str) -> int:
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidRequestError(_NOT_OURS) from None
    if (
        not isinstance(parts, list)
        or len(parts) != 2
        or parts[0] != "wh"
        or type(parts[1]) is not int
        or not 0 <= parts[1] < 2**63
    ):
        raise InvalidRequestError(_NOT_OURS)
    return int(parts[1])


class WebhookReads:
    """The API's reads of the webhook tables. Thread-safe."""

    def __init__(self, views: ViewDatabase, store: ViewStore) -> None:
        self.views = views
        self.store = store

    def endpoint(self, account_id: UUID) -> EndpointRow | None:
        s = self.store
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = {s.ph}",
                (s.uuid(account_id),),
            )
            row = cur.fetchone()
        return None if row is None else EndpointRow._make(row)

    def endpoint_state(self, account_id: UUID, url: str) -> dict[str, Any]:
        s = self.store
        with self.views.reading() as cur:
            cur.execute(
                "SELECT state, failures, changed_at, reason FROM webhook_endpoint_state "
                f"WHERE account_id = {s.ph} AND url = {s.ph}",
                (s.uuid(account_id), url),
            )
            row = cur.fetchone()
        if row is None:
            return {"state": "active", "failures": 0, "changed_at": None, "reason": None}
        return {
            "state": row[0],
            "failures": int(row[1]),
            "changed_at": s.to_time(row[2]),
            "reason": row[3],
        }

    def deliveries(
        self, account_id: UUID, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the account's callbacks, newest first, each with its attempts."""
        s, ph = self.store, self.store.ph
        before = _position_of(cursor) if cursor else 2**63 - 1
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM webhook_outbox WHERE account_id = {ph} "
                f"AND position < {ph} ORDER BY position DESC, webhook_id LIMIT {ph}",
                (s.uuid(account_id), before, limit + 1),
            )
            rows = [DeliveryRow._make(r) for r in cur.fetchall()]
            more = len(rows) > limit
            rows = rows[:limit]
            attempts: dict[str, list[dict[str, Any]]] = {r.webhook_id: [] for r in rows}
            if rows:
                for raw in s.select_in(
                    cur,
                    f"SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE {{cond}} ORDER BY id",
                    "webhook_id",
                    list(attempts),
                ):
                    a = AttemptRow._make(raw)
                    attempts[a.webhook_id].append(
                        {
                            "at": s.to_time(a.at),
                            "status_code": a.status_code,
                            "latency_ms": int(a.latency_ms),
                            "error": a.error,
                            "next_retry_at": None if a.next_at is None else s.to_time(a.next_at),
                        }
                    )
        items = [
            {
                "id": r.webhook_id,
                "message_id": s.to_uuid(r.message_id),
                "event_id": event_id_for(s.to_uuid(r.message_id), int(r.version)),
                "event_at": s.to_time(r.event_at),
                "url": r.url,
                "state": r.state,
                "next_attempt_at": s.to_time(r.next_at) if r.state == "pending" else None,
                "last_status_code": r.last_status,
                "delivered_at": None if r.delivered_at is None else s.to_time(r.delivered_at),
                "attempts": attempts[r.webhook_id],
            }
            for r in rows
        ]
        return items, (_cursor(int(rows[-1].position)) if more else None)

    def counts(self, now: datetime) -> dict[str, float]:
        """For ``/metrics``: callbacks by state, attempts by outcome, and the age in
        seconds of the oldest callback not yet delivered (0 when none waits)."""
        s = self.store
        out: dict[str, float] = {}
        with self.views.reading() as cur:
            cur.execute("SELECT state, COUNT(*) FROM webhook_outbox GROUP BY state")
            for state, n in cur.fetchall():
                out[f"state:{state}"] = int(n)
            cur.execute(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status_code >= 200 AND "
                "status_code < 300 THEN 0 ELSE 1 END), 0) FROM webhook_attempts"
            )
            total, failed = cur.fetchone()
            out["attempts"] = int(total)
            out["failures"] = int(failed)
            cur.execute("SELECT MIN(event_at) FROM webhook_outbox WHERE state = 'pending'")
            (oldest,) = cur.fetchone()
        out["oldest_pending_seconds"] = (
            0.0 if oldest is None else max((now - s.to_time(oldest)).total_seconds(), 0.0)
        )
        return out


def endpoint_public(row: EndpointRow, store: ViewStore) -> dict[str, Any]:
    return {
        "url": row.url,
        "events": orjson.loads(row.events),
        "configured_at": store.to_time(row.configured_at),
        "previous_secret_valid_until": (
            None if row.previous_until is None else store.to_time(row.previous_until)
        ),
    }


def signing_nonces(row: EndpointRow, store: ViewStore, at: datetime) -> list[str]:
    """The nonces whose secrets sign a callback sent at ``at`` (as
    ``Account.signing_nonces`` says, from the projected row)."""
    nonces = [row.nonce]
    if (
        row.previous_nonce
        and row.previous_until is not None
        and at < store.to_time(row.previous_until)
    ):
        nonces.append(row.previous_nonce)
    return nonces


__all__ = [
    "NAME",
    "WebhookOutboxProjection",
    "WebhookReads",
    "callback_body",
    "endpoint_public",
    "message_object",
    "signing_nonces",
]
