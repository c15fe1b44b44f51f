"""The dispatcher: hands funded messages to the gateway, exactly once, and feeds the
gateway's reports back into the ledger.

It follows the event log into the delivery queue (the ``DeliveryQueue`` projection,
``smsledger.projections.delivery_queue``), then ``Dispatcher.dispatch_once`` takes the
due rows and, per batch: records Sending (110)
  and COMMITS it, then submits each message to the gateway, then records
  DeliveredToGateway (111) with the gateway's reference, or a failed hand-off (511,
  refunded). A message found at 110 (a dispatcher died between the two records) is
  looked up at the gateway first: accepted, it gets its 111 with that reference;
  refused, it gets its 511 with the gateway's words; unknown, it is submitted. So a
  crash anywhere never submits a message twice, and the gateway's idempotency on our
  message id covers two dispatchers racing.

Cancel is safe against all this: 110 is saved on the version the dispatcher loaded, so a
cancel in between makes the save conflict, and the retry finds the message canceled.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from smsledger.application.ports import (
    GatewayError,
    HandOffRefusedError,
    InboundSource,
    Outgoing,
    Refused,
)
from smsledger.domain.errors import AccountNotFoundError
from smsledger.projections import store_for
from smsledger.projections.delivery_queue import DeliveryQueue
from smsledger.projections.runner import ProjectionRunner

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from uuid import UUID

    from smsledger.application.ledger import Ledger
    from smsledger.application.ports import Gateway
    from smsledger.domain.message import Message
    from smsledger.projections.db import ViewDatabase

log = logging.getLogger(__name__)

DEFAULT_BATCH = 200


@dataclass(frozen=True)
class DispatchResult:
    handed_off: int = 0
    failed: int = 0
    recovered: int = 0  # found at 110 and already accepted by the gateway
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
        self.sql = store_for(views.dialect)
        self.runner = ProjectionRunner(ledger, views, [DeliveryQueue(self.sql)])

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
            # It reached 110 before a crash: the gateway may have answered already.
            answer = gateway.lookup(message.id)
            if isinstance(answer, Refused):
                # Refused before the crash: record the refusal it gave, never ask again.
                failed[message.id] = answer.detail or "refused by the gateway"
            elif answer is not None:
                handed[message.id] = answer
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

    def pump_inbound(self) -> int:
        """Hand the gateway's due replies (the simulator's) to the inbound ingest, each
        addressed to its account's virtual number at its time; a reply to an account
        without one goes nowhere. How many were taken from the gateway."""
        gateway = self.gateway
        if not isinstance(gateway, InboundSource):
            return 0
        now = self.clock()
        due = gateway.due_inbound(now, self.report_batch)
        if not due:
            return 0
        # One look-up per account a pump (its replies span seconds); the ingest routes
        # each by who held the number at the reply's own time anyway.
        numbers: dict[UUID, str | None] = {}
        items = []
        for _, reply in due:
            account_id = reply["account_id"]
            if account_id not in numbers:
                numbers[account_id] = None
                with contextlib.suppress(AccountNotFoundError):
                    at = datetime.fromisoformat(reply["at"])
                    numbers[account_id] = self.ledger.virtual_number(account_id, at)
            number = numbers[account_id]
            if number is not None:
                items.append({k: v for k, v in reply.items() if k != "account_id"} | {"to": number})
        if items:
            self.ledger.receive_inbound(items)
        # As with reports: acknowledged only once taken; a repeat is a ``duplicate``.
        gateway.acknowledge_inbound([receipt for receipt, _ in due], now)
        return len(due)

    # --- running ---

    def step(self) -> int:
        """Follow, hand off one batch, pump one batch of reports and of replies; how much
        was done."""
        followed = self.follow()
        dispatched = self.dispatch_once().total
        return followed + dispatched + self.pump() + self.pump_inbound()

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
