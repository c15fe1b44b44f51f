"""The sweep decision of one message (``smsledger.domain.expiry``), at exact times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from smsledger.domain.expiry import NOT_ASKED, sweep_message
from smsledger.domain.message import Message, refund_all_due
from smsledger.domain.status import (
    DELIVERED_TO_GATEWAY,
    EXPIRED,
    FUNDED,
    SENDING,
    UNKNOWN,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
VALIDITY = 600
GRACE = timedelta(hours=1)
US = timedelta(microseconds=1)


def funded(charged_to: str = "balance") -> Message:
    m = Message.accept(
        account_id=uuid4(),
        batch_id=uuid4(),
        sender="Acme",
        recipient="+46701234567",
        body="hi",
        segments=1,
        encoding="GSM-7",
        unit_price=45,
        price=45,
        currency="SEK",
        timezone="Europe/Stockholm",
        validity_period=VALIDITY,
        send_at=None,
        timestamp=NOW,
    )
    m.fund(charged_to, NOW)  # type: ignore[arg-type]
    return m


END = NOW + timedelta(seconds=VALIDITY)


def test_a_funded_message_expires_exactly_at_the_end_of_its_validity() -> None:
    m = funded()
    assert sweep_message(m, END - US, GRACE) is None
    assert m.status == FUNDED
    assert sweep_message(m, END, GRACE) == "expired"
    assert m.status == EXPIRED


def test_a_handed_off_message_without_a_receipt_becomes_unknown_after_the_grace() -> None:
    m = funded()
    m.start_sending(NOW)
    m.hand_off("ref-1", NOW)
    assert m.status == DELIVERED_TO_GATEWAY
    assert sweep_message(m, END + GRACE - US, GRACE) is None
    assert sweep_message(m, END + GRACE, GRACE) == "gave_up"
    assert m.status == UNKNOWN


@pytest.mark.parametrize(
    ("answer", "outcome", "status", "handed_off"),
    [
        (NOT_ASKED, None, SENDING, False),  # nobody asked the gateway: left alone
        (None, "expired", EXPIRED, False),  # the gateway never had it
        ("ref-9", "gave_up", UNKNOWN, True),  # it had it: handed off, then no receipt
    ],
)
def test_a_message_stuck_at_sending_follows_what_the_gateway_says(
    answer: object, outcome: str | None, status: int, handed_off: bool
) -> None:
    m = funded()
    m.start_sending(NOW)
    assert sweep_message(m, END + GRACE, GRACE, answer) == outcome  # type: ignore[arg-type]
    assert (m.status, m.handed_off) == (status, handed_off)


def test_a_final_message_is_never_swept() -> None:
    m = funded()
    m.cancel(NOW)
    assert sweep_message(m, END + GRACE * 10, GRACE) is None


def test_refunds_go_back_to_the_balance_by_account_and_never_twice() -> None:
    expired, on_invoice, delivered = funded(), funded("invoice"), funded()
    for m in (expired, on_invoice):
        sweep_message(m, END, GRACE)
    delivered.start_sending(NOW)
    delivered.hand_off("r", NOW)
    delivered.record_report(201, NOW, {}, NOW)
    due = refund_all_due([expired, on_invoice, delivered], END)
    assert due == {expired.account_id: [(expired.id, 45)]}
    assert (expired.refunded, on_invoice.refunded, delivered.refunded) == (True, True, False)
    assert refund_all_due([expired, on_invoice], END) == {}
