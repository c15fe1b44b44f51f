"""Add-on fees on both databases, under a moved clock: the fee lines, ``ends_on`` and the
reconciliation are exact for an order on 31 January and notice on 15 March; a
subscription's add-ons are included; switching model mid-term changes the next
anniversary only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from smsledger.projections.queries import Queries, build_runner
from smsledger.workers.month_end import MonthEnd

if TYPE_CHECKING:
    from uuid import UUID

    from smsledger.application.ledger import Ledger
    from smsledger.projections.db import ViewDatabase
    from smsledger.projections.runner import ProjectionRunner
    from tests.support import FakeClock


def fee_lines(queries: Queries, account: UUID, period: str) -> list[tuple[str, int]]:
    invoice = queries.invoice(account, period)
    return [(line["description"], line["amount"]) for line in invoice["lines"]]


def pass_at(
    at: datetime, clock: FakeClock, month_end: MonthEnd, runner: ProjectionRunner
) -> list[tuple[UUID, str]]:
    """One month-end pass at ``at`` with the read models caught up before and after."""
    clock.set(at)
    runner.run_once()
    issued = month_end.run(at)
    runner.run_once()
    return issued


def test_an_unsubscribe_link_ordered_31_january_with_notice_on_15_march(
    ledger: Ledger, views: ViewDatabase, clock: FakeClock
) -> None:
    runner, queries = build_runner(ledger, views), Queries(ledger, views)
    month_end = MonthEnd(ledger, views, grace=timedelta(hours=1))
    clock.set(datetime(2027, 1, 31, 9, 0, tzinfo=UTC))  # 10:00 in Stockholm
    account = ledger.open_account("Acme").value.id
    add_on, ordered = ledger.order_add_on(account, "unsubscribe_link", None).value
    assert ordered
    assert add_on.started_on == "2027-01-31"
    # The month-end pass of that day charges the first year's fee on January's invoice.
    pass_at(datetime(2027, 1, 31, 12, 0, tzinfo=UTC), clock, month_end, runner)
    assert fee_lines(queries, account, "2027-01") == [
        ("Unsubscribe link, 2027-01-31 to 2028-01-30, 495.00 SEK a year", 49_500)
    ]
    # Notice on 15 March: the commitment runs to 31 January 2028.
    clock.set(datetime(2027, 3, 15, 9, 0, tzinfo=UTC))
    add_on, given = ledger.give_add_on_notice(add_on.id).value
    assert given
    assert (add_on.notice_given_on, add_on.ends_on) == ("2027-03-15", "2028-01-31")
    # January's invoice was issued at the start of February, once; the fee is on it.
    issued = pass_at(datetime(2027, 2, 1, 0, 0, 1, tzinfo=UTC), clock, month_end, runner)
    assert issued == [(account, "2027-01")]
    assert queries.invoice(account, "2027-01")["status"] == "issued"
    assert queries.invoice(account, "2027-01")["total"] == 49_500
    # Its end date is the anniversary: no second year is owed.
    for at in (datetime(2028, 1, 31, 12, 0, tzinfo=UTC), datetime(2028, 3, 1, 12, 0, tzinfo=UTC)):
        pass_at(at, clock, month_end, runner)
    assert fee_lines(queries, account, "2028-01") == []
    assert ledger.get_add_on(add_on.id).fees == {"2027-01-31": 49_500}
    # Reconciliation: the fee is accounted for, and the balance never moved.
    report = queries.reconciliation("2027-01", account)
    assert report["ok"], report
    (row,) = report["accounts"]
    assert (row["fees"], row["invoice_total"], row["balance_movement"]) == (49_500, 49_500, 0)


def test_a_subscription_includes_its_add_ons_and_a_switch_changes_the_next_year_only(
    ledger: Ledger, views: ViewDatabase, clock: FakeClock
) -> None:
    runner, queries = build_runner(ledger, views), Queries(ledger, views)
    month_end = MonthEnd(ledger, views, grace=timedelta(hours=1))
    clock.set(datetime(2027, 5, 10, 9, 0, tzinfo=UTC))
    account = ledger.open_account("Acme", "post_invoice").value.id
    ledger.order_add_on(account, "virtual_number", "+46701234567")
    pass_at(datetime(2027, 5, 10, 12, 0, tzinfo=UTC), clock, month_end, runner)
    assert fee_lines(queries, account, "2027-05") == [
        ("Virtual number, 2027-05-10 to 2028-05-09 (included in the subscription)", 0)
    ]
    # Off the subscription in the autumn: the next anniversary is charged in full.
    clock.set(datetime(2027, 10, 1, 9, 0, tzinfo=UTC))
    ledger.change_payment_model(account, "balance")
    pass_at(datetime(2028, 5, 10, 12, 0, tzinfo=UTC), clock, month_end, runner)
    assert fee_lines(queries, account, "2028-05") == [
        ("Virtual number, 2028-05-10 to 2029-05-09, 995.00 SEK a year", 99_500)
    ]
    assert fee_lines(queries, account, "2027-05")[0][1] == 0  # never changed
    for period in ("2027-05", "2028-05"):
        assert queries.reconciliation(period, account)["ok"]


def test_a_second_pass_and_a_retried_order_charge_nothing_twice(
    ledger: Ledger, views: ViewDatabase, clock: FakeClock
) -> None:
    runner, queries = build_runner(ledger, views), Queries(ledger, views)
    month_end = MonthEnd(ledger, views, grace=timedelta(hours=1))
    clock.set(datetime(2027, 1, 31, 9, 0, tzinfo=UTC))
    account = ledger.open_account("Acme").value.id
    first, _ = ledger.order_add_on(account, "unsubscribe_link", None).value
    again, ordered = ledger.order_add_on(account, "unsubscribe_link", None).value
    assert (again.id, ordered) == (first.id, False)
    at = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    pass_at(at, clock, month_end, runner)
    assert month_end.charge_fees(at) == 0
    assert month_end.charge_fees(at + timedelta(days=200)) == 0
    assert fee_lines(queries, account, "2027-01") == [
        ("Unsubscribe link, 2027-01-31 to 2028-01-30, 495.00 SEK a year", 49_500)
    ]
