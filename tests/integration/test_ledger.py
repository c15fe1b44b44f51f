"""The core ledger's scenarios, each run on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import RecordConflictError, StoredEvent

from smsledger.adapters.recorders import COPY_FROM_ROWS
from smsledger.adapters.storage import Database
from smsledger.application.ledger import Ledger
from smsledger.domain.account import Account
from smsledger.domain.errors import (
    AccountNotFoundError,
    AlreadyHandedOffError,
    InvalidRequestError,
    MessageNotFoundError,
    TopUpConflictError,
)
from smsledger.domain.message import Message
from tests.support import FakeClock

SE = "+46701234567"
SE2 = "+46701234568"
SE3 = "+46701234569"


def open_funded(ledger: Ledger, amount: int = 10_000) -> UUID:
    account: Account = ledger.open_account("Acme").value
    if amount:
        ledger.top_up(account.id, amount, "initial")
    return account.id


def test_top_up_credits_balance_once_per_reference(ledger: Ledger) -> None:
    # A fresh account has nothing.
    account_id = open_funded(ledger, 0)
    assert ledger.get_account(account_id).balance == 0
    # A top-up credits it and reports that it did.
    account, created = ledger.top_up(account_id, 5000, "shop-1").value
    assert (account.balance, created) == (5000, True)
    # The same reference again is a retry: nothing more is credited.
    account, created = ledger.top_up(account_id, 5000, "shop-1").value
    assert (account.balance, created) == (5000, False)
    # The same reference with another amount is a conflict and changes nothing.
    with pytest.raises(TopUpConflictError):
        ledger.top_up(account_id, 7000, "shop-1")
    assert ledger.get_account(account_id).balance == 5000


@pytest.mark.parametrize("amount", [0, -1, 1.5, True])
def test_top_up_rejects_amounts_that_are_not_positive_integers(
    ledger: Ledger, amount: object
) -> None:
    account_id = open_funded(ledger, 0)
    with pytest.raises(InvalidRequestError):
        ledger.top_up(account_id, amount, "x")  # type: ignore[arg-type]
    assert ledger.get_account(account_id).balance == 0


def test_batch_is_charged_in_recipient_order_while_balance_covers(ledger: Ledger) -> None:
    # Three Swedish recipients at 45 öre a segment, balance for two of them.
    account_id = open_funded(ledger, 90)
    receipt = ledger.send_batch(account_id, sender="Acme", recipients=[SE, SE2, SE3], body="Hi")
    # The first two are funded, the third gets 402 and costs nothing.
    assert [line["status"] for line in receipt.lines] == [103, 103, 402]
    assert [line["price"] for line in receipt.lines] == [45, 45, 0]
    assert receipt.total_price == 90
    assert ledger.get_account(account_id).balance == 0
    third = ledger.get_message(UUID(receipt.lines[2]["id"]))
    assert (third.status, third.charged) == (402, False)


def test_post_invoicing_has_priority_over_balance(ledger: Ledger) -> None:
    # An account with balance left switches to post-invoicing.
    account_id = open_funded(ledger, 1000)
    ledger.change_payment_model(account_id, "post_invoice")
    receipt = ledger.send_batch(account_id, sender="Acme", recipients=[SE], body="Hi")
    # The charge goes to the invoice; the balance is untouched.
    message = ledger.get_message(UUID(receipt.lines[0]["id"]))
    assert (message.status, message.charged_to, message.charge_period) == (
        103,
        "invoice",
        "2026-11",
    )
    assert ledger.get_account(account_id).balance == 1000


def test_recipient_rules_give_4xx_statuses_not_errors(ledger: Ledger) -> None:
    account_id = open_funded(ledger)
    ledger.block_number(account_id, SE2)
    receipt = ledger.send_batch(
        account_id,
        sender="Acme",
        recipients=[SE, SE2, "12", "+12025550123"],
        body="Hello",
    )
    # Valid; blocked (405); not an MSISDN (409); US without a campaign (403).
    assert [line["status"] for line in receipt.lines] == [103, 405, 409, 403]
    # Only the valid one was charged.
    assert ledger.get_account(account_id).balance == 10_000 - 45


def test_campaign_of_each_country_lets_its_recipients_through(
    ledger: Ledger, clock: FakeClock
) -> None:
    account_id = open_funded(ledger)
    us, canada, jamaica = "+12025550123", "+14165550123", "+18762345678"
    # A US campaign, valid for a day: US numbers pass, Canadian ones still need theirs;
    # Jamaica is +1 too but an ordinary destination, priced by the list's default.
    ledger.book_campaign(account_id, "US", "tcr-1", clock.now + timedelta(days=1))
    receipt = ledger.send_batch(
        account_id, sender="Acme", recipients=[us, canada, jamaica], body="Hi"
    )
    assert [line["status"] for line in receipt.lines] == [103, 403, 103]
    assert [line["price"] for line in receipt.lines] == [80, 0, 95]
    # Once it has ended, US numbers are 403 again and cost nothing.
    clock.advance(days=1)
    receipt = ledger.send_batch(account_id, sender="Acme", recipients=[us], body="Hi")
    assert receipt.lines[0]["status"] == 403
    assert receipt.total_price == 0


@pytest.mark.parametrize(
    ("sender", "body", "code"),
    [
        ("Acme Company Ltd", "Hi", 407),
        ("Acme", "", 408),
        ("Acme", "Visit our casino tonight", 404),
    ],
)
def test_batch_wide_rules_reject_every_recipient(
    ledger: Ledger, sender: str, body: str, code: int
) -> None:
    account_id = open_funded(ledger)
    receipt = ledger.send_batch(account_id, sender=sender, recipients=[SE, SE2], body=body)
    assert [line["status"] for line in receipt.lines] == [code, code]
    assert receipt.total_price == 0
    assert ledger.get_account(account_id).balance == 10_000


def test_account_banned_keyword_rejects_content(ledger: Ledger) -> None:
    account_id = open_funded(ledger)
    ledger.set_banned_keywords(account_id, ["lottery"])
    receipt = ledger.send_batch(account_id, sender="Acme", recipients=[SE], body="Win the Lottery!")
    assert receipt.lines[0]["status"] == 404


def test_repeated_reference_returns_first_batch_and_charges_nothing(ledger: Ledger) -> None:
    account_id = open_funded(ledger)
    first = ledger.send_batch(
        account_id, sender="Acme", recipients=[SE, SE2], body="Hi", reference="order-7"
    )
    again = ledger.send_batch(
        account_id, sender="Acme", recipients=[SE, SE2], body="Hi", reference="order-7"
    )
    assert (again.batch_id, again.lines, again.total_price) == (
        first.batch_id,
        first.lines,
        first.total_price,
    )
    assert again.replayed
    assert not first.replayed
    assert ledger.get_account(account_id).balance == 10_000 - 90


def test_cancel_before_hand_off_refunds_to_balance(ledger: Ledger, clock: FakeClock) -> None:
    account_id = open_funded(ledger)
    later = clock.now + timedelta(hours=2)
    receipt = ledger.send_batch(
        account_id, sender="Acme", recipients=[SE], body="Hi", send_at=later
    )
    message_id = UUID(receipt.lines[0]["id"])
    assert ledger.get_account(account_id).balance == 10_000 - 45
    # Canceled while it waits for its send time: 203, and the price comes back.
    canceled: Message = ledger.cancel(message_id).value
    assert (canceled.status, canceled.refunded) == (203, True)
    assert ledger.get_account(account_id).balance == 10_000
    # Canceling again is a conflict and refunds nothing more.
    with pytest.raises(Exception, match="final"):
        ledger.cancel(message_id)
    assert ledger.get_account(account_id).balance == 10_000


def test_cancel_after_hand_off_is_a_conflict_that_changes_nothing(
    ledger: Ledger, clock: FakeClock
) -> None:
    account_id = open_funded(ledger)
    receipt = ledger.send_batch(account_id, sender="Acme", recipients=[SE], body="Hi")
    message = ledger.get_message(UUID(receipt.lines[0]["id"]))
    message.start_sending(clock.now)
    message.hand_off("gw-1", clock.now)
    ledger.save(message)
    with pytest.raises(AlreadyHandedOffError):
        ledger.cancel(message.id)
    after = ledger.get_message(message.id)
    assert (after.status, after.refunded, after.version) == (111, False, message.version)


def test_another_accounts_message_reads_as_not_found(ledger: Ledger) -> None:
    mine = open_funded(ledger)
    theirs = open_funded(ledger)
    receipt = ledger.send_batch(theirs, sender="Acme", recipients=[SE], body="Hi")
    with pytest.raises(MessageNotFoundError):
        ledger.get_message(UUID(receipt.lines[0]["id"]), account_id=mine)
    with pytest.raises(MessageNotFoundError):
        ledger.cancel(UUID(receipt.lines[0]["id"]), account_id=mine)


def test_unknown_account_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(AccountNotFoundError):
        ledger.top_up(UUID(int=1), 100, "x")


def test_account_snapshot_gives_the_same_account(ledger: Ledger) -> None:
    account_id = open_funded(ledger)
    for i in range(5):
        ledger.top_up(account_id, 1, f"r{i}")
    ledger.take_snapshot(account_id)
    ledger.top_up(account_id, 1, "after")
    assert ledger.get_account(account_id).balance == 10_006
    assert ledger.get_account(account_id).top_ups["after"] == 1


def _latest_snapshot_version(ledger: Ledger, account_id: UUID) -> int:
    assert ledger.snapshots is not None
    (latest,) = ledger.snapshots.get(account_id, desc=True, limit=1)
    return int(latest.originator_version)


def test_account_is_snapshotted_after_every_event_that_lists_messages(
    ledger: Ledger, clock: FakeClock
) -> None:
    # A batch's charge lists every message: the account is snapshotted at that event,
    # so loading it never decodes the per-message list again.
    account_id = open_funded(ledger)
    later = clock.now + timedelta(hours=1)
    receipt = ledger.send_batch(
        account_id, sender="Acme", recipients=[SE, SE2], body="Hi", send_at=later
    )
    assert _latest_snapshot_version(ledger, account_id) == ledger.get_account(account_id).version
    # So is a refund pass.
    ledger.cancel(UUID(receipt.lines[0]["id"]))
    assert _latest_snapshot_version(ledger, account_id) == ledger.get_account(account_id).version
    # A top-up carries no list and takes no snapshot of its own.
    ledger.top_up(account_id, 5, "more")
    account = ledger.get_account(account_id)
    assert _latest_snapshot_version(ledger, account_id) == account.version - 1
    # The account loaded from its snapshot is the account replayed from every event.
    replayed: Any = None
    for domain_event in ledger.events.get(account_id):
        replayed = domain_event.mutate(replayed)  # type: ignore[attr-defined]
    assert (account.version, account.balance, account.top_ups) == (
        replayed.version,
        replayed.balance,
        replayed.top_ups,
    )
    assert account.balance == 10_000 - 45 + 5


def test_events_are_stored_under_stable_topics(ledger: Ledger) -> None:
    account_id = open_funded(ledger)
    topics = [e.topic for e in ledger.recorder.select_events(account_id)]
    assert topics == ["smsledger:Account.Opened", "smsledger:Account.ToppedUp"]


@pytest.mark.slow
def test_concurrent_batches_never_overspend(database: Database, clock: FakeClock) -> None:
    # A balance that covers exactly 12 messages, and 4 threads sending 6 each.
    setup = Ledger(database.eventsourcing_env(), clock=clock)
    account_id = open_funded(setup, 12 * 45)
    errors: list[BaseException] = []
    funded: list[int] = []
    lock = threading.Lock()

    def send(worker: int) -> None:
        app = Ledger(database.eventsourcing_env(), clock=clock)
        try:
            for i in range(3):
                receipt = app.send_batch(
                    account_id,
                    sender="Acme",
                    recipients=[f"+467012{worker}{i}{j}00" for j in range(2)],
                    body="Hi",
                )
                with lock:
                    funded.extend(1 for line in receipt.lines if line["status"] == 103)
        except BaseException as e:
            errors.append(e)
        finally:
            app.close()

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Exactly 12 funded across all threads, and not one öre below zero.
    assert sum(funded) == 12
    assert setup.get_account(account_id).balance == 0
    setup.close()


@pytest.mark.parametrize("database", ["postgres"], indirect=True)  # psycopg only
def test_a_large_batch_is_saved_without_pipeline_mode(
    ledger: Ledger, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # psycopg's pipeline can deadlock on a multi-megabyte send (psycopg issue #685),
    # holding the event table's lock: a batch's insert must never go through one.
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("pipeline mode used for an event insert")

    monkeypatch.setattr(psycopg.Connection, "pipeline", refuse)
    account_id = open_funded(ledger, amount=0)
    ledger.change_payment_model(account_id, "post_invoice")
    numbers = [f"+4670{i:07d}" for i in range(3_000)]
    receipt = ledger.send_batch(account_id, sender="Acme", recipients=numbers, body="Hi")
    assert [line["status"] for line in receipt.lines] == [103] * 3_000
    assert receipt.position is not None
    assert ledger.recorder.max_notification_id() == receipt.position


@pytest.mark.parametrize("database", ["postgres"], indirect=True)  # psycopg only
def test_a_bulk_insert_gives_each_event_the_id_it_was_stored_under(
    ledger: Ledger, database: Database
) -> None:
    # Enough events for COPY, whose ids are read back rather than returned.
    open_funded(ledger)
    head = ledger.recorder.max_notification_id() or 0
    events = [
        StoredEvent(UUID(int=i // 2 + 1), i % 2 + 1, "smsledger:Test.Happened", b"{}")
        for i in range(COPY_FROM_ROWS + 1)
    ]
    ids = ledger.recorder.insert_events(events)
    assert ids is not None
    stored = ledger.recorder.select_notifications(start=head + 1, limit=len(events) + 1)
    assert [(n.id, n.originator_id, n.originator_version) for n in stored] == [
        (i, e.originator_id, e.originator_version) for i, e in zip(ids, events, strict=True)
    ]

    # The same rows again conflict, and leave nothing behind.
    with pytest.raises(RecordConflictError):
        ledger.recorder.insert_events(events)
    assert ledger.recorder.max_notification_id() == ids[-1]
