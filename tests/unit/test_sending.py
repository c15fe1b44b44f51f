"""The send decision (``smsledger.domain.sending``), with no database: what one batch
makes of an account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from smsledger.domain.account import Account
from smsledger.domain.errors import InvalidRequestError
from smsledger.domain.pricing import load_price_list
from smsledger.domain.sending import AcceptedBatch, accept_batch, check_send_request
from smsledger.domain.status import FUNDED, INSUFFICIENT_FUNDS

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PRICES = load_price_list()


def account(balance: int = 0, model: str = "balance") -> Account:
    a = Account(
        name="Acme",
        payment_model=model,  # type: ignore[arg-type]
        currency="SEK",
        timezone="Europe/Stockholm",
        timestamp=NOW,
    )
    if balance:
        a.top_up(balance, "t", NOW)
    return a


def send(a: Account, recipients: list[str], body: str = "hi", **kw: object) -> AcceptedBatch:
    options: dict[str, object] = {
        "sender": "Acme",
        "validity_period": 600,
        "send_at": None,
        "reference": None,
        "prices": PRICES,
        "platform_keywords": ("casino",),
        "max_parts": 10,
        "now": NOW,
        **kw,
    }
    return accept_batch(a, uuid4(), recipients=recipients, body=body, **options)  # type: ignore[arg-type]


def test_the_balance_funds_recipients_in_order_and_the_rest_get_402() -> None:
    a = account(balance=100)  # two Swedish messages at 45 öre
    batch = send(a, ["+46701234561", "+46701234562", "+46701234563"])
    assert [m.status for m in batch.messages] == [FUNDED, FUNDED, INSUFFICIENT_FUNDS]
    assert batch.total_price == 90
    assert a.balance == 10
    assert [line["price"] for line in batch.lines] == [45, 45, 0]


def test_post_invoicing_funds_every_recipient_and_leaves_the_balance() -> None:
    a = account(balance=100)
    a.change_payment_model("post_invoice", NOW)
    batch = send(a, ["+46701234561"] * 5)
    assert all(m.status == FUNDED and m.charged_to == "invoice" for m in batch.messages)
    assert a.balance == 100
    assert batch.total_price == 5 * 45


def test_a_broken_recipient_rule_is_that_message_alone_and_costs_nothing() -> None:
    a = account(balance=1000)
    a.block_number("+46701234562", "manual", NOW)
    batch = send(a, ["+46701234561", "+46701234562", "12"])
    assert [m.status for m in batch.messages] == [FUNDED, 405, 409]
    assert [m.recipient for m in batch.messages] == ["+46701234561", "+46701234562", "12"]
    assert a.balance == 1000 - 45


@pytest.mark.parametrize(
    ("sender", "body", "code"),
    [("", "hi", 407), ("Acme", "", 408), ("Acme", "play casino now", 404)],
)
def test_a_batch_wide_rule_rejects_every_recipient_and_charges_nothing(
    sender: str, body: str, code: int
) -> None:
    a = account(balance=1000)
    batch = send(a, ["+46701234561", "+46701234562"], body=body, sender=sender)
    assert [m.status for m in batch.messages] == [code, code]
    assert batch.total_price == 0
    assert a.balance == 1000
    assert not any(type(e).__name__ == "BatchCharged" for e in a.collect_events())


def test_segments_and_destination_set_the_price() -> None:
    a = account(balance=10_000)
    batch = send(a, ["+4790012345", "+46701234561"], body="x" * 161)  # two GSM-7 parts
    assert [(m.segments, m.unit_price, m.price) for m in batch.messages] == [
        (2, 55, 110),
        (2, 45, 90),
    ]


def test_a_send_time_in_the_past_means_now() -> None:
    a = account(balance=1000)
    past = send(a, ["+46701234561"], send_at=NOW - timedelta(minutes=1)).messages[0]
    later = send(a, ["+46701234561"], send_at=NOW + timedelta(hours=1)).messages[0]
    assert past.send_at is None
    assert past.due_at == NOW
    assert later.due_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("validity_period", True),
        ("validity_period", "600"),
        ("validity_period", 59),
        ("recipients", []),
        ("recipients", ["+46701234561"] * 3),
        ("recipients", [46701234561]),
        ("send_at", datetime(2026, 11, 2, 9, 0)),
        ("send_at", 1_700_000_000),
        ("reference", ""),
        ("sender", 7),
        ("body", None),
    ],
)
def test_a_malformed_request_is_refused_whole(field: str, value: object) -> None:
    request: dict[str, object] = {
        "sender": "Acme",
        "recipients": ["+46701234561"],
        "body": "hi",
        "validity_period": 600,
        "send_at": None,
        "reference": None,
        field: value,
    }
    with pytest.raises(InvalidRequestError):
        check_send_request(**request, max_recipients=2)
