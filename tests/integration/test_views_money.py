"""Balances, the account ledger and monthly invoices, by the account's own calendar."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID

import pytest

from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.domain.errors import PeriodNotEndedError
from smsledger.projections.queries import build_runner
from tests.support import FakeClock, ReadSide

SE = ["+46731234567", "+46731234568", "+46731234569"]
NO = "+4791234567"


@pytest.fixture
def queries(ledger: Ledger, database: Database) -> Iterator[ReadSide]:
    views = open_views(database)
    yield ReadSide(ledger, views, build_runner(ledger, views, page_size=4))
    views.close()


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


def test_ledger_has_one_entry_per_movement_with_balance_after(
    ledger: Ledger, queries: ReadSide
) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 200, "shop-1")
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=SE, body="hi")
    ledger.cancel(UUID(receipt.lines[1]["id"]))
    queries.runner.run_once()

    entries, cursor = queries.ledger(account.id)
    assert cursor is None
    assert [(e["seq"], e["kind"], e["amount"], e["balance_after"]) for e in entries] == [
        (1, "top_up", 200, 200),
        (2, "charge", -45, 155),
        (3, "charge", -45, 110),
        (4, "charge", -45, 65),
        (5, "refund", 45, 110),
    ]
    assert entries[0]["reference"] == "shop-1"
    assert [str(e["message_id"]) for e in entries[1:4]] == [line["id"] for line in receipt.lines]
    assert str(entries[4]["message_id"]) == receipt.lines[1]["id"]
    assert queries.balance(account.id) == 110 == ledger.get_account(account.id).balance
    # Pages of two, in order.
    page, cursor = queries.ledger(account.id, None, 2)
    assert [e["seq"] for e in page] == [1, 2]
    page, cursor = queries.ledger(account.id, None, 2, cursor)
    assert [e["seq"] for e in page] == [3, 4]


def test_invoice_charges_are_not_balance_movements(ledger: Ledger, queries: ReadSide) -> None:
    account = ledger.open_account("Post", payment_model="post_invoice").value
    ledger.send_batch(account.id, sender="Acme", recipients=SE, body="hi")
    queries.runner.run_once()
    assert queries.ledger(account.id)[0] == []
    assert queries.balance(account.id) == 0


@pytest.mark.parametrize(
    ("instant", "period"),
    [
        ("2026-11-30T23:30:00+00:00", "2026-12"),  # 00:30 on 1 December in Stockholm
        ("2026-11-30T22:59:00+00:00", "2026-11"),
        ("2026-03-31T22:30:00+00:00", "2026-04"),  # summer time: UTC+2
        ("2026-03-31T21:59:00+00:00", "2026-03"),
        ("2026-10-31T23:30:00+00:00", "2026-11"),  # winter time again: UTC+1
        ("2026-10-31T22:30:00+00:00", "2026-10"),
    ],
)
def test_periods_are_stockholm_months_across_daylight_saving(
    ledger: Ledger, queries: ReadSide, clock: FakeClock, instant: str, period: str
) -> None:
    clock.set(at("2026-03-01T12:00:00+00:00"))
    account = ledger.open_account("Acme").value
    post = ledger.open_account("Post", payment_model="post_invoice").value
    clock.set(at(instant))
    ledger.top_up(account.id, 100, "t")
    ledger.send_batch(post.id, sender="Acme", recipients=SE[:1], body="hi")
    queries.runner.run_once()
    assert [e["kind"] for e in queries.ledger(account.id, period)[0]] == ["top_up"]
    assert queries.invoice(post.id, period)["total"] == 45
    others = {"2026-03", "2026-04", "2026-10", "2026-11", "2026-12"} - {period}
    for other in others:
        assert queries.ledger(account.id, other)[0] == []
        assert queries.invoice(post.id, other)["lines"] == []


def test_invoice_lines_group_by_destination_and_unit_price(
    ledger: Ledger, queries: ReadSide
) -> None:
    account = ledger.open_account("Post", payment_model="post_invoice").value
    ledger.send_batch(account.id, sender="Acme", recipients=[*SE, NO], body="hi")
    ledger.send_batch(account.id, sender="Acme", recipients=SE[:2], body="x" * 200)  # 2 parts
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=[NO], body="later")
    ledger.cancel(UUID(receipt.lines[0]["id"]))
    queries.runner.run_once()

    invoice = queries.invoice(account.id, "2026-11")
    no_price = ledger.price_lists["SEK"].unit_price("NO")
    assert no_price is not None
    assert invoice["status"] == "open"
    assert invoice["currency"] == "SEK"
    assert [(line["kind"], line["quantity"], line["amount"]) for line in invoice["lines"]] == [
        ("sms", 2, 2 * no_price),
        ("sms", 7, 7 * 45),  # 3 one-part and 2 two-part messages: 7 segments
        ("refund", 1, -no_price),
    ]
    assert invoice["total"] == 7 * 45 + no_price


def test_issuing_freezes_and_late_arrivals_go_on_the_next_open_invoice(
    ledger: Ledger, queries: ReadSide, clock: FakeClock
) -> None:
    clock.set(at("2026-11-30T22:00:00+00:00"))  # 23:00 in Stockholm
    account = ledger.open_account("Post", payment_model="post_invoice").value
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=SE, body="hi")
    # Before the month has ended in Stockholm: 409.
    with pytest.raises(PeriodNotEndedError):
        queries.issue_invoice(account.id, "2026-11")
    clock.set(at("2026-11-30T23:00:00+00:00"))  # midnight in Stockholm
    issued, position = queries.issue_invoice(account.id, "2026-11")
    assert position is not None
    assert issued["status"] == "issued"
    assert issued["total"] == 3 * 45

    # A November message is canceled (refunded) in December... and a November charge
    # whose event is recorded after the issue (a late writer) is dated November too.
    canceled = receipt.lines[0]["id"]
    ledger.cancel(UUID(canceled))
    clock.set(at("2026-11-30T22:59:00+00:00"))
    late = ledger.send_batch(account.id, sender="Acme", recipients=SE[:1], body="late")
    queries.runner.run_once()

    assert queries.invoice(account.id, "2026-11") == issued  # never changes
    december = queries.invoice(account.id, "2026-12")
    assert december["status"] == "open"
    # Each is an adjustment that names the month it corrects and its message.
    lines = [(line["kind"], line["description"], line["amount"]) for line in december["lines"]]
    assert sorted(lines) == sorted(
        [
            (
                "adjustment",
                f"Adjustment for 2026-11, message {canceled}: "
                "Refunded SMS to SE, 0.45 SEK per segment",
                -45,
            ),
            (
                "adjustment",
                f"Adjustment for 2026-11, message {late.lines[0]['id']}: "
                "SMS to SE, 0.45 SEK per segment",
                45,
            ),
        ]
    )
    # Issuing again changes nothing.
    clock.set(at("2027-01-05T00:00:00+00:00"))
    again, again_position = queries.issue_invoice(account.id, "2026-11")
    assert again == issued
    assert again_position is None
    report = queries.reconciliation("2026-11", account.id)
    assert report["ok"], report


def test_balance_as_of_replays_the_event_store(
    ledger: Ledger, queries: ReadSide, clock: FakeClock
) -> None:
    account = ledger.open_account("Acme").value
    t0 = clock.now
    ledger.top_up(account.id, 100, "a")
    clock.advance(hours=1)
    t1 = clock.now
    ledger.send_batch(account.id, sender="Acme", recipients=SE[:1], body="x")
    clock.advance(hours=1)
    ledger.top_up(account.id, 50, "b")
    assert queries.balance_as_of(account.id, t0) == 100
    assert queries.balance_as_of(account.id, t1) == 55
    assert queries.balance_as_of(account.id, clock.now) == 105
    assert queries.balance_as_of(account.id, at("2020-01-01T00:00:00+00:00")) == 0
