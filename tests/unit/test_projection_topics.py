"""Every event the aggregates can record is one the read models know about."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from smsledger.domain.account import Account
from smsledger.domain.message import Message
from smsledger.projections.accounts import AccountLedgerProjection
from smsledger.projections.invoices import InvoiceProjection
from smsledger.projections.messages import MessageStatusProjection
from smsledger.projections.queries import _decode_cursor, _encode_cursor


def topics_of(aggregate: type[Aggregate]) -> set[str]:
    return {
        value.TOPIC
        for value in vars(aggregate).values()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and hasattr(value, "TOPIC")
    } - {aggregate.Created.TOPIC}  # type: ignore[attr-defined]


def test_message_status_view_handles_every_message_event() -> None:
    # A new Message event must get a handler in projections/messages.py, or its
    # status change would never reach the view.
    assert topics_of(Message) <= set(MessageStatusProjection.topics)


def test_money_views_read_the_account_events_that_move_money() -> None:
    money = {
        "smsledger:Account.ToppedUp",
        "smsledger:Account.BatchCharged",
        "smsledger:Account.Refunded",
    }
    assert money <= set(AccountLedgerProjection.topics)
    assert "smsledger:Account.InvoiceIssued" in topics_of(Account)
    assert "smsledger:Account.InvoiceIssued" in InvoiceProjection.topics


def test_cursor_round_trips_and_is_opaque() -> None:
    cursor = _encode_cursor("2026-11-02T09:00:00+00:00", 42)
    assert "2026" not in cursor
    assert _decode_cursor(cursor, (str, int)) == ["2026-11-02T09:00:00+00:00", 42]


def test_invoice_destination_agrees_with_the_full_number_parse() -> None:
    from smsledger.domain.addressing import country_of
    from smsledger.projections.invoices import destination

    numbers = ["+46731234567", "+4791234567", "+447911123456", "+12025550123", "+16135550123"]
    numbers += ["+79161234567", "+77011234567", "+80012345678", "12"]
    for number in numbers:
        assert destination(number) == country_of(number), number
