"""A ``message_states`` row holds a message's attributes; its format names them.

Adding, removing, renaming or retyping an attribute of ``Message`` changes what a row
must hold: this test fails until ``FORMAT`` is bumped and the table below updated (and
``smsledger.application.message_state`` reads the new kind), so rows written before are
ignored (their messages read from the events) rather than read back wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from smsledger.application.message_state import FORMAT, decode, encode
from smsledger.domain.message import Message

OPT_TIME = datetime | None
FORMATS: dict[int, dict[str, object]] = {
    1: {
        "_created_on": datetime,
        "_modified_on": datetime,
        "account_id": UUID,
        "batch_id": UUID,
        "sender": str,
        "recipient": str,
        "body": str,
        "segments": int,
        "encoding": str,
        "unit_price": int,
        "price": int,
        "currency": str,
        "timezone": str,
        "validity_period": int,
        "send_at": OPT_TIME,
        "status": int,
        "charged_to": str | None,
        "charge_period": str | None,
        "refunded": bool,
        "handed_off": bool,
        "hand_off_recorded": bool,
        "gateway_ref": str | None,
        "report_keys": set,
        "link_used_at": OPT_TIME,
    },
}

AT = datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=UTC)


def accepted(send_at: datetime | None = None) -> Message:
    return Message.accept(
        account_id=uuid4(),
        batch_id=uuid4(),
        sender="Acme",
        recipient="+46701234567",
        body="hi ✓",
        segments=1,
        encoding="UCS-2",
        unit_price=50,
        price=50,
        currency="SEK",
        timezone="Europe/Stockholm",
        validity_period=3600,
        send_at=send_at,
        timestamp=AT,
    )


def lived() -> Message:
    """A message with every optional attribute set."""
    message = accepted(send_at=AT + timedelta(minutes=1))
    message.fund("balance", AT)
    message.start_sending(AT)
    message.hand_off("gw-1", AT)
    message.record_report(201, AT, {"stat": 201}, AT)
    message.record_report(113, AT - timedelta(seconds=1), None, AT)
    message.use_unsubscribe_link(AT + timedelta(hours=1))
    message.collect_events()
    return message


def test_the_format_names_the_attributes_a_message_has_and_their_kinds() -> None:
    state = {
        k: v for k, v in vars(lived()).items() if k not in {"_id", "_version", "_pending_events"}
    }
    expected = FORMATS[FORMAT]
    assert set(state) == set(expected)
    for name, value in state.items():
        assert isinstance(value, expected[name]), name  # type: ignore[arg-type]


def test_a_row_reads_back_as_the_same_message() -> None:
    fresh = accepted()
    fresh.collect_events()
    for message in (lived(), fresh):
        back = decode(message.id, message.version, encode(message))
        assert vars(back) == vars(message)
        assert type(back) is Message
    message = lived()
    back = decode(message.id, message.version, encode(message))
    assert back.report_keys == {
        (201, AT.isoformat()),
        (113, (AT - timedelta(seconds=1)).isoformat()),
    }
    assert back.link_used_at == AT + timedelta(hours=1)
    assert back.version == message.version


def test_a_refunded_message_reads_back_refunded() -> None:
    message = accepted()
    message.fund("invoice", AT)
    message.record_report(410, AT, {"stat": 410}, AT)
    message.refund(AT)
    message.collect_events()
    back = decode(message.id, message.version, encode(message))
    assert back.refunded
    assert not back.refund_due
    assert back.charged_to == "invoice"
