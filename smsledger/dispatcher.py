"""The dispatcher: hands funded messages to the gateway, exactly once, and feeds the
gateway's reports back into the ledger.

Two halves:

* ``DeliveryQueue`` follows the event log (through ``projections.runner``) and keeps
  ``delivery_queue`` current: a row per funded message that is not final, with its
  ``due_at`` and ``expires_at``. Rows and the tracking position commit together, so a
  restart neither loses nor repeats an event. The sweeper reads the same table.
* ``Dispatcher.dispatch_once`` takes the due rows and, per batch: records Sending (110)
  and COMMITS it, then submits each message to the gateway, then records
  DeliveredToGateway (111) with the gateway's reference, or a failed hand-off (511,
  refunded). A message found at 110 (a dispatcher died between the two records) is
  looked up at the gateway first: known, it gets its 111 with that reference; unknown,
  it is submitted. So a crash anywhere never sends a message twice, and the gateway's
  idempotency on our message id covers two dispatchers racing.

Cancel is safe against all this: 110 is saved on the version the dispatcher loaded, so a
cancel in between makes the save conflict, and the retry finds the message canceled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.status import STATUS_CODES
from projections.runner import Projection, ProjectionRunner
from smsledger.gateway import GatewayError, HandOffRefusedError, Outgoing

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence

    from domain.message import Message
    from projections.db import ViewDatabase
    from projections.runner import LoggedEvent
    from smsledger.application import Ledger
    from smsledger.gateway import Gateway

log = logging.getLogger(__name__)

TRACKING_NAME = "dispatcher"
DEFAULT_BATCH = 200


# --- SQL in two dialects -------------------------------------------------------------------

_SQLITE_TIME = "%Y-%m-%dT%H:%M:%S.%f+00:00"  # fixed width: text order is time order


class Sql:
    """Parameters and placeholders of the delivery tables in one dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.ph = "?" if dialect == "sqlite" else "%s"

    def uuid(self, value: UUID) -> Any:
        return str(value) if self.dialect == "sqlite" else value

    def to_uuid(self, value: Any) -> UUID:
        return value if isinstance(value, UUID) else UUID(str(value))

    def time(self, value: datetime) -> Any:
        if self.dialect == "sqlite":
            return value.astimezone(UTC).strftime(_SQLITE_TIME)
        return value

    def to_time(self, value: Any) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    def marks(self, n: int) -> str:
        return ", ".join([self.ph] * n)


# --- the queue, kept by following the log ----------------------------------------------------

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

    def __init__(self, dialect: str) -> None:
        self.sql = Sql(dialect)

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


# --- the dispatcher ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchResult:
    handed_off: int = 0
    failed: int = 0
    recovered: int = 0  # found at 110 and already known to the gateway
    expired: int = 0  # found at 110, unknown to the gateway, validity over

    @property
    def total(self) -> int:
        return self.handed_off + self.failed + self.recovered + self.expired


class Dispatcher:
    """Follows the log into ``delivery_queue``, hands due messages to the gateway, and
    pumps the gateway's reports into the ledger. ``now`` comes from the injected clock."""

    def __init__(
        self,
        ledger: Ledger,
        views: ViewDatabase,
        gateway: Gateway | None,
        *,
        clock: Callable[[], datetime] | None = None,
        batch_size: int = DEFAULT_BATCH,
        report_batch: int = 1000,
    ) -> None:
        self.ledger = ledger
        self.views = views
        self.gateway = gateway
        self.clock = clock or ledger.clock
        self.batch_size = batch_size
        self.report_batch = report_batch
        self.sql = Sql(views.dialect)
        self.runner = ProjectionRunner(ledger, views, [DeliveryQueue(views.dialect)])

    # --- following the log ---

    def follow(self) -> int:
        """Bring ``delivery_queue`` up to the head of the log; events applied."""
        return self.runner.run_once()

    def due(self, now: datetime, limit: int) -> list[UUID]:
        """Messages to act on: first any stuck at Sending (a dispatcher died midway, so
        they are recovered before their reports can overtake them), then funded ones
        that are due and still valid, oldest first."""
        s, ph = self.sql, self.sql.ph
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT message_id FROM delivery_queue WHERE state = 'sending' "
                f"ORDER BY due_at LIMIT {int(limit)}"
            )
            found = [s.to_uuid(r[0]) for r in cur.fetchall()]
            if len(found) < limit:
                cur.execute(
                    f"SELECT message_id FROM delivery_queue WHERE state = 'funded' "
                    f"AND due_at <= {ph} AND expires_at > {ph} "
                    f"ORDER BY due_at LIMIT {int(limit - len(found))}",
                    (s.time(now), s.time(now)),
                )
                found += [s.to_uuid(r[0]) for r in cur.fetchall()]
        return found

    # --- handing off ---

    def dispatch_once(self) -> DispatchResult:
        """One batch of due messages: 110 committed, submitted, then 111 or 511."""
        if self.gateway is None:
            return DispatchResult()
        gateway = self.gateway
        now = self.clock()
        ids = self.due(now, self.batch_size)
        if not ids:
            return DispatchResult()
        started, stuck = self.ledger.start_sending(ids, now).value

        handed: dict[UUID, str] = {}
        failed: dict[UUID, str] = {}
        never_sent: dict[UUID, str | None] = {}
        to_submit: list[Message] = list(started)
        recovered = 0
        for message in stuck:
            # It reached 110 before a crash: the gateway may or may not have it.
            ref = gateway.lookup(message.id)
            if ref is not None:
                handed[message.id] = ref
                recovered += 1
            elif now < message.expires_at:
                to_submit.append(message)
            else:
                never_sent[message.id] = None
        for message in to_submit:
            try:
                handed[message.id] = gateway.submit(Outgoing.of(message), now)
            except HandOffRefusedError as e:
                failed[message.id] = str(e) or "refused by the gateway"
            except GatewayError:
                # Unsure whether it arrived: it stays at 110; the next pass looks it up.
                log.warning("gateway error submitting %s; will look it up", message.id)
        if handed or failed:
            self.ledger.record_hand_offs(handed, failed, now)
        if never_sent:
            self.ledger.sweep_messages(list(never_sent), now, timedelta(0), never_sent)
        return DispatchResult(len(handed) - recovered, len(failed), recovered, len(never_sent))

    # --- reports ---

    def pump(self) -> int:
        """Hand the gateway's due reports to the ledger; how many were handed over."""
        if self.gateway is None:
            return 0
        now = self.clock()
        due = self.gateway.due_reports(now, self.report_batch)
        if not due:
            return 0
        self.ledger.record_delivery_reports([report for _, report in due])
        # Acknowledged only after they are recorded: a crash in between hands them
        # out again, and a repeat is a harmless ``duplicate``.
        self.gateway.acknowledge([receipt for receipt, _ in due], now)
        return len(due)

    # --- running ---

    def step(self) -> int:
        """Follow, hand off one batch, pump one batch of reports; how much was done."""
        followed = self.follow()
        dispatched = self.dispatch_once().total
        return followed + dispatched + self.pump()

    def run_until_idle(self, max_steps: int | None = None) -> int:
        """Step until a step does nothing; total work done."""
        total, steps = 0, 0
        while max_steps is None or steps < max_steps:
            n = self.step()
            total += n
            steps += 1
            if n == 0:
                break
        return total

    def run_forever(self, stop: threading.Event, *, interval: float = 0.2) -> None:
        """Keep stepping until ``stop`` is set; errors are logged and retried."""
        while not stop.is_set():
            try:
                if self.step() == 0:
                    stop.wait(interval)
            except Exception:
                log.exception("dispatcher step failed; retrying")
                stop.wait(1.0)
