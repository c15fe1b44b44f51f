"""The unsubscribe link's use cases on both databases: concurrent clicks block once, a
scheduled message to the number then ends 405 refunded at hand-off, and the events say
which message's link blocked the number, and when."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from smsledger.domain.batch import Batch, batch_id_for
from smsledger.domain.errors import UnsubscribeLinkNotFoundError
from smsledger.domain.message import Message
from smsledger.domain.unsubscribe import token_of

if TYPE_CHECKING:
    from smsledger.application.ledger import Ledger
    from tests.support import FakeClock

NUMBER = "+46731234567"


def linked_account(ledger: Ledger) -> UUID:
    account = ledger.open_account("Acme", payment_model="post_invoice").value
    ledger.set_stop_service(account.id, sms_stop=False, unsubscribe_link=True)
    return account.id


def test_concurrent_clicks_block_once_and_name_the_message(
    ledger: Ledger, clock: FakeClock
) -> None:
    account_id = linked_account(ledger)
    receipt = ledger.send_batch(account_id, sender="Acme", recipients=[NUMBER], body="Hi")
    message = ledger.get_message(UUID(receipt.lines[0]["id"]))
    token = token_of(message)
    assert token is not None
    clicked_at = clock.advance(hours=2)

    # Eight presses at once (a double tap, a retrying browser): one opt-out.
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def press() -> None:
        barrier.wait()
        outcomes.append(ledger.unsubscribe(token).value[1])

    threads = [threading.Thread(target=press) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already_unsubscribed"] * 7 + ["unsubscribed"]

    # The account's events say when, why and through which message.
    blocks = [e for e in ledger.events.get(account_id) if type(e).__name__ == "NumberBlocked"]
    assert [(e.msisdn, e.source, e.message_id, e.timestamp) for e in blocks] == [  # type: ignore[attr-defined]
        (NUMBER, "unsubscribe_link", str(message.id), clicked_at)
    ]
    used = [e for e in ledger.events.get(message.id) if type(e).__name__ == "UnsubscribeLinkUsed"]
    assert [e.timestamp for e in used] == [clicked_at]  # type: ignore[attr-defined]
    link = ledger.unsubscribe_link(token)
    assert (link.account_name, link.masked_number, link.used) == ("Acme", "+4673•••••67", True)


def test_a_scheduled_message_to_an_unsubscribed_number_ends_405_refunded_at_hand_off(
    ledger: Ledger, clock: FakeClock
) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 1000, "t1")
    ledger.order_add_on(account.id, "unsubscribe_link", None)
    ledger.set_stop_service(account.id, sms_stop=False, unsubscribe_link=True)
    now = clock.now
    first = ledger.send_batch(account.id, sender="Acme", recipients=[NUMBER], body="Hi")
    tomorrow = ledger.send_batch(
        account.id,
        sender="Acme",
        recipients=[NUMBER],
        body="See you",
        send_at=now + timedelta(days=1),
    )
    assert ledger.get_account(account.id).balance == 1000 - 2 * 45
    token = token_of(ledger.get_message(UUID(first.lines[0]["id"])))
    assert token is not None
    ledger.unsubscribe(token)

    clock.advance(days=1, minutes=1)
    scheduled = UUID(tomorrow.lines[0]["id"])
    started, _ = ledger.start_sending([scheduled], clock.now).value
    assert started == []
    message = ledger.get_message(scheduled)
    assert (message.status, message.refunded) == (405, True)
    assert ledger.get_account(account.id).balance == 1000 - 45


def test_a_link_is_found_only_by_its_own_token(ledger: Ledger) -> None:
    account_id = linked_account(ledger)
    receipt = ledger.send_batch(account_id, sender="Acme", recipients=[NUMBER], body="Hi")
    token = token_of(ledger.get_message(UUID(receipt.lines[0]["id"])))
    assert token is not None
    flipped = ("B" if token[0] == "A" else "A") + token[1:]
    for wrong in (flipped, token.lower() if token.lower() != token else token.upper(), "x" * 16):
        with pytest.raises(UnsubscribeLinkNotFoundError):
            ledger.unsubscribe(wrong)
    assert ledger.get_account(account_id).blocked == {}


def test_a_batch_submitted_before_bodies_were_kept_replays_its_messages_bodies(
    ledger: Ledger, clock: FakeClock
) -> None:
    # A batch with no body (what an event stored before the field existed gives), and
    # its message, which has its body.
    account = ledger.open_account("Acme").value
    message = Message.accept(
        account_id=account.id,
        batch_id=UUID(int=7),
        sender="Acme",
        recipient=NUMBER,
        body="Sent long ago",
        segments=1,
        encoding="GSM-7",
        unit_price=45,
        price=45,
        currency="SEK",
        timezone="Europe/Stockholm",
        validity_period=600,
        send_at=None,
        timestamp=clock.now,
    )
    line = {
        "id": str(message.id),
        "recipient": NUMBER,
        "status": 409,
        "segments": 1,
        "encoding": "GSM-7",
        "price": 0,
    }
    batch_id = batch_id_for(account.id, "old-ref")
    old = Batch(
        id=batch_id,
        account_id=account.id,
        reference="old-ref",
        total_price=0,
        currency="SEK",
        lines=[line],  # type: ignore[list-item]
        timestamp=clock.now,
    )
    ledger.save(old, message)
    replay = ledger.send_batch(
        account.id, sender="Acme", recipients=[NUMBER], body="Sent long ago", reference="old-ref"
    )
    assert replay.replayed
    assert replay.bodies == ["Sent long ago"]
