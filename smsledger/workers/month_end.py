"""Month end: every ended month's open invoice is issued, once, in each account's time
zone.

An invoice's lines are in the invoices view; an account's period is ready once that
month has ended in the account's time zone plus a grace (``SMSLEDGER_INVOICE_GRACE_
SECONDS``, default an hour) for late reports. Each pass (the sweeper runs it after the
expiry sweep, with the same ``now``) issues every ready period that has lines and is not
issued yet; ``Account.issue_invoice`` makes a second issue of a period a no-op, so two
sweepers or a retried pass never issue twice. Anything charged or refunded for a period
after its invoice was issued lands on the next open invoice as an adjustment
(``projections/invoices.py``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

from smsledger.domain.periods import last_closed_period
from smsledger.projections import store_for

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from smsledger.application.ledger import Ledger
    from smsledger.projections.db import ViewDatabase

log = logging.getLogger(__name__)


class OpenPeriod(NamedTuple):
    account_id: object
    period: str
    timezone: str


class MonthEnd:
    def __init__(
        self, ledger: Ledger, views: ViewDatabase, *, grace: timedelta = timedelta(hours=1)
    ) -> None:
        self.ledger = ledger
        self.views = views
        self.grace = grace
        self.store = store_for(views.dialect)

    def run(self, now: datetime) -> list[tuple[UUID, str]]:
        """Charge the add-on fees due by ``now``, then issue every ready, unissued
        invoice with lines; what it issued."""
        self.charge_fees(now)
        issued: list[tuple[UUID, str]] = []
        for row in self._open_periods():
            if row.period > last_closed_period(now, row.timezone, self.grace):
                continue
            account_id = self.store.to_uuid(row.account_id)
            written = self.ledger.issue_invoice(account_id, row.period, now)
            if written.value[1]:
                issued.append((account_id, row.period))
        if issued:
            log.info("month end issued invoices", extra={"invoices": len(issued)})
        return issued

    def charge_fees(self, now: datetime) -> int:
        """Record every add-on fee due by ``now`` in its account's time zone (the start
        date and each anniversary); how many. A due date is a local date, so candidates
        are read a day ahead of UTC and each add-on decides in its own zone."""
        horizon = (now + timedelta(days=1)).date().isoformat()
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT id FROM view_add_ons WHERE next_due_on <= {self.store.ph} "
                "ORDER BY next_due_on, id",
                [horizon],
            )
            due = [self.store.to_uuid(r[0]) for r in cur.fetchall()]
        charged = 0
        for add_on_id in due:
            charged += len(self.ledger.charge_add_on_fees(add_on_id, now).value)
        if charged:
            log.info("month end charged add-on fees", extra={"fees": charged})
        return charged

    def _open_periods(self) -> list[OpenPeriod]:
        """Periods with invoice lines and no issued invoice (one small row each: lines
        are grouped per kind and destination, never one per message)."""
        with self.views.reading() as cur:
            cur.execute(
                "SELECT l.account_id, l.period, a.timezone "
                "FROM (SELECT DISTINCT account_id, period FROM view_invoice_lines) l "
                "JOIN view_accounts a ON a.id = l.account_id "
                "LEFT JOIN view_invoices i ON i.account_id = l.account_id "
                "AND i.period = l.period AND i.status = 'issued' "
                "WHERE i.account_id IS NULL ORDER BY l.period, l.account_id"
            )
            return [OpenPeriod._make(r) for r in cur.fetchall()]
