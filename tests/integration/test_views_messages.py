"""The message status view: current status, legacy word, money facts, filters, cursors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest

from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.domain.errors import InvalidRequestError
from smsledger.projections.queries import build_runner
from tests.support import FakeClock, ReadSide

SE = ["+46731234567", "+46731234568", "+46731234569", "+46731234570"]


@pytest.fixture
def queries(ledger: Ledger, database: Database) -> Iterator[ReadSide]:
    views = open_views(database)
    yield ReadSide(ledger, views, build_runner(ledger, views, page_size=5))
    views.close()


def deliver(ledger: Ledger, message_id: str | UUID, code: int) -> None:
    """What the dispatcher and a carrier do: hand off, then one report."""
    m = ledger.get_message(UUID(str(message_id)))
    now = ledger.now()
    m.start_sending(now)
    m.hand_off("gw-1", now)
    m.record_report(code, now, {"raw": code}, now)
    ledger.save(m)


def test_message_row_has_the_contract_shape_and_follows_its_status(
    ledger: Ledger, queries: ReadSide, clock: FakeClock
) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 1000, "t1")
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=SE[:2], body="hi")
    first, second = (UUID(line["id"]) for line in receipt.lines)
    clock.advance(minutes=5)
    deliver(ledger, first, 201)
    queries.runner.run_once()

    row = queries.message(first)
    assert row is not None
    assert set(row) == {
        "id", "batch_id", "account_id", "sender", "recipient", "segments", "encoding",
        "price", "currency", "status", "legacy_status", "final", "charged_to", "refunded",
        "created_at", "updated_at",
    }  # fmt: skip
    assert row["status"] == {"code": 201, "name": "DeliveredToHandset", "group": "Success"}
    assert row["legacy_status"] == "Delivered"
    assert row["final"] is True
    assert row["charged_to"] == "balance"
    assert row["price"] == 45
    assert row["updated_at"] == row["created_at"] + timedelta(minutes=5)
    funded = queries.message(second)
    assert funded is not None
    assert funded["status"]["code"] == 103
    assert funded["legacy_status"] is None
    # The view agrees with the aggregate on every field.
    from smsledger.projections.queries import message_object

    assert queries.message(first) == message_object(ledger.get_message(first))


def test_another_accounts_message_reads_as_unknown(ledger: Ledger, queries: ReadSide) -> None:
    mine = ledger.open_account("Mine").value
    theirs = ledger.open_account("Theirs").value
    ledger.top_up(theirs.id, 1000, "t")
    receipt = ledger.send_batch(theirs.id, sender="Them", recipients=SE[:1], body="x")
    queries.runner.run_once()
    mid = UUID(receipt.lines[0]["id"])
    assert queries.message(mid, mine.id) is None
    assert queries.message(mid, theirs.id) is not None


def test_cancel_refunds_and_a_failed_report_reads_wrong(ledger: Ledger, queries: ReadSide) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 1000, "t1")
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=SE[:2], body="hi")
    a, b = (UUID(line["id"]) for line in receipt.lines)
    ledger.cancel(a)
    deliver(ledger, b, 501)
    queries.runner.run_once()
    canceled, failed = queries.message(a), queries.message(b)
    assert canceled is not None
    assert failed is not None
    assert canceled["status"]["code"] == 203
    assert canceled["refunded"] is True
    assert failed["legacy_status"] == "Wrong"
    assert failed["refunded"] is False  # handed off: the carrier's cost is real


def test_list_filters_and_cursor_pages_cover_every_message_once(
    ledger: Ledger, queries: ReadSide, clock: FakeClock
) -> None:
    account = ledger.open_account("Acme").value
    other = ledger.open_account("Other").value
    ledger.top_up(account.id, 100, "t1")  # covers two messages; the rest get 402
    ledger.top_up(other.id, 1000, "t2")
    b1 = ledger.send_batch(account.id, sender="Acme", recipients=SE, body="one")
    clock.advance(hours=1)
    b2 = ledger.send_batch(account.id, sender="Acme", recipients=[*SE[:2], "12"], body="two")
    ledger.send_batch(other.id, sender="Other", recipients=SE, body="theirs")
    queries.runner.run_once()

    def ids(**filters: object) -> list[str]:
        out, cursor = [], None
        while True:
            items, cursor = queries.messages(account.id, filters, 2, cursor)
            out += [str(i["id"]) for i in items]
            if cursor is None:
                return out

    everything = ids()
    assert everything == [line["id"] for line in b1.lines + b2.lines]  # oldest first
    assert ids(batch_id=b2.batch_id) == [line["id"] for line in b2.lines]
    assert ids(status=402) == [line["id"] for line in b1.lines[2:] + b2.lines[:2]]
    assert len(ids(group="Rejection")) == 5  # four 402 and one 409
    assert len(ids(recipient="46731234567")) == 2  # written without "+"
    assert ids(created_after=clock.now - timedelta(minutes=1)) == ids(batch_id=b2.batch_id)
    assert ids(created_before=clock.now - timedelta(minutes=1)) == ids(batch_id=b1.batch_id)
    # The operator sees both accounts.
    assert len(queries.messages(None, {}, 1000)[0]) == 11


def test_bad_cursor_and_limit_are_invalid_requests(ledger: Ledger, queries: ReadSide) -> None:
    account = ledger.open_account("Acme").value
    with pytest.raises(InvalidRequestError):
        queries.messages(account.id, {}, 10, "not-a-cursor")
    with pytest.raises(InvalidRequestError):
        queries.messages(account.id, {}, 1001)
    with pytest.raises(InvalidRequestError):
        queries.ledger(account.id, None, 10, "eyJ4Ijox")


def test_status_counts_for_metrics(ledger: Ledger, queries: ReadSide) -> None:
    account = ledger.open_account("Acme").value
    ledger.send_batch(account.id, sender="Acme", recipients=SE[:3], body="x")
    queries.runner.run_once()
    assert queries.status_counts() == {402: 3}


def test_page_boundary_inside_a_batch_changes_nothing(
    ledger: Ledger, database: Database, clock: FakeClock
) -> None:
    account = ledger.open_account("Acme", payment_model="post_invoice").value
    ledger.send_batch(account.id, sender="Acme", recipients=SE, body="x")
    views = open_views(database)
    try:
        for page_size in (1, 2, 3, 1000):
            q = ReadSide(ledger, views, build_runner(ledger, views, page_size=page_size))
            for p in q.runner.projections:
                q.runner.rebuild(p.name)
            assert q.invoice(account.id, "2026-11")["lines"] == [
                {
                    "kind": "sms",
                    "description": "SMS to SE, 0.45 SEK per segment",
                    "quantity": 4,
                    "amount": 180,
                }
            ]
            assert {m["status"]["code"] for m in q.messages(account.id, {}, 100)[0]} == {103}
    finally:
        views.close()


def test_a_recipients_messages_newest_first_page_backwards_by_cursor(
    ledger: Ledger, queries: ReadSide, clock: FakeClock
) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 10_000, "t1")
    sent = []
    for n in range(5):  # the console's recipient page: five messages to one number
        receipt = ledger.send_batch(
            account.id, sender="Acme", recipients=[SE[0], SE[1]], body=f"{n}"
        )
        sent.append(receipt.lines[0]["id"])
        clock.advance(minutes=1 if n != 2 else 0)
    queries.runner.run_once()
    pages, cursor = [], None
    while True:
        items, cursor = queries.messages(
            account.id, {"recipient": SE[0]}, 2, cursor, newest_first=True
        )
        pages.append([str(m["id"]) for m in items])
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == [str(i) for i in reversed(sent)]
    oldest_first, _ = queries.messages(account.id, {"recipient": SE[0]}, 10)
    assert [str(m["id"]) for m in oldest_first] == [str(i) for i in sent]
