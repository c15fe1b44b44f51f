"""A ``message_states`` row holds a message's attributes; its format names their set.

Adding, removing or renaming an attribute of ``Message`` changes what a row must hold:
this test fails until ``MESSAGE_STATE_FORMAT`` is bumped and the set below updated, so
rows written before are ignored (their messages read from the events) rather than
read back without the new attribute."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from smsledger.adapters.transcoder import OrjsonTranscoder
from smsledger.application.ledger import MESSAGE_STATE_FORMAT, _message_from, _message_state
from smsledger.domain.message import Message

FORMATS = {
    1: {
        "_created_on",
        "_modified_on",
        "account_id",
        "batch_id",
        "sender",
        "recipient",
        "body",
        "segments",
        "encoding",
        "unit_price",
        "price",
        "currency",
        "timezone",
        "validity_period",
        "send_at",
        "status",
        "charged_to",
        "charge_period",
        "refunded",
        "handed_off",
        "hand_off_recorded",
        "gateway_ref",
        "report_keys",
        "link_used_at",
    },
}

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def accepted() -> Message:
    return Message.accept(
        account_id=uuid4(),
        batch_id=uuid4(),
        sender="Acme",
        recipient="+46701234567",
        body="hi",
        segments=1,
        encoding="GSM-7",
        unit_price=50,
        price=50,
        currency="SEK",
        timezone="Europe/Stockholm",
        validity_period=3600,
        send_at=None,
        timestamp=AT,
    )


def test_the_format_names_the_attributes_a_message_has() -> None:
    message = accepted()
    message.fund("balance", AT)
    message.start_sending(AT)
    message.hand_off("gw-1", AT)
    message.record_report(201, AT, {"stat": 201}, AT)
    assert set(_message_state(message)) == FORMATS[MESSAGE_STATE_FORMAT]


def test_a_state_reads_back_as_the_same_message() -> None:
    message = accepted()
    message.fund("balance", AT)
    message.record_report(410, AT, {"stat": 410}, AT)
    message.refund(AT)
    message.collect_events()
    coder = OrjsonTranscoder()
    back = _message_from(
        message.id, message.version, coder.encode(_message_state(message)), coder.decode
    )
    assert vars(back) == vars(message)
    assert back.report_keys == {(410, AT.isoformat())}
    assert back.refunded
    assert not back.refund_due
