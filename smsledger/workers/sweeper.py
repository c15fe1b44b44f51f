"""The expiry sweeper: what time alone decides about a message.

``sweep(now)`` finds its candidates in ``delivery_queue`` by ``expires_at`` (an index
range, never a scan of every message) and, for each, asks the aggregate:

* funded, never handed off, validity over (``now >= expires_at``): 202 Expired, refunded;
* handed off, no final report by ``expires_at + grace``: 599 Unknown (no refund: the
  carrier's cost is real);
* stuck at Sending (110) that long: the gateway is asked whether it has it; yes, it is
  handed off and then 599; refused, it is the failed hand-off the gateway said (511,
  refunded); no, it was never sent: 202 Expired, refunded.

``now`` is passed in, and is also the time the events are recorded at, so a pass for a
given instant is exact and repeatable. ``serve`` runs it every
``SMSLEDGER_SWEEP_INTERVAL_SECONDS``; ``smsledger sweep [--now ISO8601]`` runs one pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from smsledger.application.ports import Refused
from smsledger.projections import store_for
from smsledger.projections.delivery_queue import DeliveryQueue
from smsledger.projections.runner import ProjectionRunner

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from datetime import datetime
    from uuid import UUID

    from smsledger.application.ledger import Ledger
    from smsledger.application.ports import Gateway
    from smsledger.projections.db import ViewDatabase

log = logging.getLogger(__name__)

PAGE = 1000


@dataclass(frozen=True)
class SweepResult:
    expired: list[UUID]
    gave_up: list[UUID]
    position: int | None  # the log position the pass's events reached
    invoices_issued: int = 0  # by the month-end work of the pass


class Sweeper:
    def __init__(
        self,
        ledger: Ledger,
        views: ViewDatabase,
        gateway: Gateway | None = None,
        *,
        grace: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] | None = None,
        month_end: Callable[[datetime], object] | None = None,
    ) -> None:
        self.ledger = ledger
        self.views = views
        self.gateway = gateway
        self.grace = grace
        self.clock = clock or ledger.clock
        # Month-end work (issuing last month's invoices) belongs to projections/: pass it
        # in as ``month_end`` and it runs at the end of every pass with the same ``now``.
        self.month_end = month_end
        self.sql = store_for(views.dialect)
        # The same queue the dispatcher keeps; two followers of it take turns safely.
        self.queue = ProjectionRunner(ledger, views, [DeliveryQueue(self.sql)])

    def sweep(self, now: datetime | None = None) -> SweepResult:
        """One pass at ``now`` (default: the clock)."""
        if now is None:
            now = self.clock()
        if now.tzinfo is None:
            msg = "sweep needs a time with an offset"
            raise ValueError(msg)
        self.queue.run_once()  # nothing that expired may hide behind a lagging queue
        expired: list[UUID] = []
        gave_up: list[UUID] = []
        position: int | None = None
        after: tuple[object, object] | None = None
        while True:
            page = self._candidates(now, after)
            if not page:
                break
            after = page[-1][2], page[-1][3]
            refs: dict[UUID, str | None] = {}
            refused: dict[UUID, str] = {}
            if self.gateway is not None:
                for mid, state, _, _ in page:
                    if state == "sending":
                        answer = self.gateway.lookup(mid)
                        if isinstance(answer, Refused):
                            refused[mid] = answer.detail
                        else:
                            refs[mid] = answer
            if refused:
                # The gateway refused them before a crash: the hand-off failed (511).
                self.ledger.record_hand_offs({}, refused, now)
            written = self.ledger.sweep_messages(
                [mid for mid, _, _, _ in page], now, self.grace, refs
            )
            e, g = written.value
            expired += e
            gave_up += g
            position = written.position or position
            if len(page) < PAGE:
                break
        if expired or gave_up:
            log.info("swept", extra={"expired": len(expired), "gave_up": len(gave_up)})
        issued = self.month_end(now) if self.month_end is not None else None
        count = len(issued) if isinstance(issued, list) else 0
        return SweepResult(expired, gave_up, position, count)

    def _candidates(
        self, now: datetime, after: tuple[object, object] | None
    ) -> list[tuple[UUID, str, object, object]]:
        s, ph = self.sql, self.sql.ph
        args: list[object] = [s.time(now), s.time(now - self.grace)]
        keyset = ""
        if after is not None:
            keyset = f"AND (expires_at, message_id) > ({ph}, {ph}) "
            args += after
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT message_id, state, expires_at, message_id FROM delivery_queue "
                f"WHERE expires_at <= {ph} AND (state = 'funded' OR expires_at <= {ph}) "
                f"{keyset}ORDER BY expires_at, message_id LIMIT {PAGE}",
                args,
            )
            return [(s.to_uuid(r[0]), str(r[1]), r[2], r[3]) for r in cur.fetchall()]

    def run_forever(self, stop: threading.Event, *, interval: float = 30.0) -> None:
        """Sweep every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.sweep()
            except Exception:
                log.exception("sweep failed; retrying")
            stop.wait(interval)
