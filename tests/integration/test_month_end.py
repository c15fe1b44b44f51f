"""Month end on both databases, under a moved clock: each ended month's invoice is
issued once, in the account's own time zone and after the grace; a refund of a month
already issued is an adjustment on the next invoice, naming the month it belongs to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from smsledger.domain.periods import last_closed_period, previous_period
from smsledger.projections.queries import Queries, build_runner
from smsledger.workers.month_end import MonthEnd

if TYPE_CHECKING:
    from smsledger.application.ledger import Ledger
    from smsledger.projections.db import ViewDatabase
    from tests.support import FakeClock

SE = "+46701234567"
HOUR = timedelta(hours=1)


def issued_events(ledger: Ledger, account_id: UUID) -> list[str]:
    account = ledger.get_account(account_id)
    return list(account.issued_invoices)


def test_each_account_is_issued_once_after_its_own_month_end(
    ledger: Ledger, views: ViewDatabase, clock: FakeClock
) -> None:
    runner, queries = build_runner(ledger, views), Queries(ledger, views)
    month_end = MonthEnd(ledger, views, grace=HOUR)
    # Two post-invoiced accounts, Stockholm and New York, each send in November.
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    stockholm = ledger.open_account("Acme", "post_invoice").value.id
    new_york = ledger.open_account("Acme US", "post_invoice", timezone="America/New_York").value.id
    balance = ledger.open_account("Prepaid").value.id
    ledger.top_up(balance, 1_000, "t1")
    for account in (stockholm, new_york, balance):
        ledger.send_batch(account, sender="Acme", recipients=[SE], body="hi")
    runner.run_once()
    # 1 December 00:30 in Stockholm: the month is over there, but not the grace.
    at = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert month_end.run(at) == []
    # 01:00:01 in Stockholm, 19:00 on 30 November in New York: Stockholm only.
    at = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    assert month_end.run(at) == [(stockholm, "2026-11")]
    runner.run_once()
    assert queries.invoice(stockholm, "2026-11")["status"] == "issued"
    assert queries.invoice(new_york, "2026-11")["status"] == "open"
    # 01:00:01 in New York: New York's too; nothing for the balance account (no lines).
    at = datetime(2026, 12, 1, 6, 0, 1, tzinfo=UTC)
    assert month_end.run(at) == [(new_york, "2026-11")]
    runner.run_once()
    # Again, and again a month later: no second issue, no new event.
    assert month_end.run(at) == []
    assert month_end.run(at + timedelta(days=31)) == []
    assert issued_events(ledger, stockholm) == ["2026-11"]
    assert issued_events(ledger, new_york) == ["2026-11"]
    assert issued_events(ledger, balance) == []
    assert queries.invoice(stockholm, "2026-11")["total"] == 45


def test_a_december_refund_of_a_november_message_is_a_december_adjustment(
    ledger: Ledger, views: ViewDatabase, clock: FakeClock
) -> None:
    runner, queries = build_runner(ledger, views), Queries(ledger, views)
    month_end = MonthEnd(ledger, views, grace=HOUR)
    clock.set(datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    account = ledger.open_account("Acme", "post_invoice").value.id
    # A message scheduled for December, charged in November, canceled after the issue.
    receipt = ledger.send_batch(
        account,
        sender="Acme",
        recipients=[SE],
        body="later",
        send_at=datetime(2026, 12, 5, tzinfo=UTC),
    )
    runner.run_once()
    clock.set(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert month_end.run(clock.now) == [(account, "2026-11")]
    ledger.cancel(UUID(receipt.lines[0]["id"]))
    runner.run_once()
    november = queries.invoice(account, "2026-11")
    assert [(line["kind"], line["amount"]) for line in november["lines"]] == [("sms", 45)]
    december = queries.invoice(account, "2026-12")
    assert [(line["kind"], line["amount"]) for line in december["lines"]] == [("adjustment", -45)]
    assert "2026-11" in december["lines"][0]["description"]


def test_the_last_closed_period_follows_the_time_zone_and_the_grace() -> None:
    at = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)  # 01:30 in Stockholm, 19:30 in New York
    assert last_closed_period(at, "Europe/Stockholm", timedelta(0)) == "2025-12"
    assert last_closed_period(at, "Europe/Stockholm", HOUR) == "2025-12"
    assert last_closed_period(at, "Europe/Stockholm", 2 * HOUR) == "2025-11"
    assert last_closed_period(at, "America/New_York", timedelta(0)) == "2025-11"
    assert previous_period("2026-01") == "2025-12"
    assert previous_period("2026-03") == "2026-02"
