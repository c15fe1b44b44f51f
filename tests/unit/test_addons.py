"""Add-on dates and fees with no database: commitment and notice across month ends and
leap years, fee dates, included fees, one fee per due date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from smsledger.domain.addons import (
    AddOn,
    add_months,
    commitment_end,
    due_dates,
    end_after_notice,
)
from smsledger.domain.errors import InvalidRequestError

NOW = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2027, 11, 30), 3, date(2028, 2, 29)),
        (date(2027, 12, 15), 1, date(2028, 1, 15)),
        (date(2027, 3, 31), -1, date(2027, 2, 28)),
    ],
)
def test_months_are_added_within_the_month(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_notice_ends_at_the_later_of_the_commitment_and_three_months() -> None:
    start = date(2027, 1, 31)
    assert commitment_end(start) == date(2028, 1, 31)
    # Notice early in the term: the commitment decides.
    assert end_after_notice(start, date(2027, 3, 15)) == date(2028, 1, 31)
    # Notice in the term's last months: three months from the notice decide.
    assert end_after_notice(start, date(2027, 12, 1)) == date(2028, 3, 1)
    assert end_after_notice(start, date(2027, 11, 30)) == date(2028, 2, 29)


def test_fees_fall_due_on_the_start_and_each_anniversary_before_the_end() -> None:
    start = date(2028, 2, 29)
    assert due_dates(start, None, date(2031, 3, 1)) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
    ]
    assert due_dates(start, date(2029, 2, 28), date(2031, 3, 1)) == [date(2028, 2, 29)]
    assert due_dates(start, date(2029, 3, 1), date(2031, 3, 1)) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
    ]
    assert due_dates(start, None, date(2028, 2, 28)) == []


def link(started: date = date(2027, 1, 31)) -> AddOn:
    return AddOn.order(uuid4(), "unsubscribe_link", None, "SEK", started, "Europe/Stockholm", NOW)


def test_each_fee_is_charged_once_at_the_price_or_zero_when_included() -> None:
    add_on = link()
    assert add_on.price_per_year == 49_500
    assert add_on.charge_due_fees(date(2027, 1, 31), False, NOW) == ["2027-01-31"]
    assert add_on.charge_due_fees(date(2027, 6, 1), False, NOW) == []
    # A year on, under a subscription: the anniversary's fee is included.
    assert add_on.charge_due_fees(date(2028, 2, 1), True, NOW) == ["2028-01-31"]
    assert add_on.fees == {"2027-01-31": 49_500, "2028-01-31": 0}


def test_notice_once_and_the_fees_it_leaves_owed() -> None:
    add_on = link()
    assert add_on.give_notice(date(2027, 3, 15), NOW) is True
    assert add_on.give_notice(date(2027, 4, 1), NOW) is False
    assert add_on.ends_on == "2028-01-31"
    assert add_on.charge_due_fees(date(2029, 1, 1), False, NOW) == ["2027-01-31"]
    assert add_on.active_on(date(2028, 1, 30))
    assert not add_on.active_on(date(2028, 1, 31))


def test_a_virtual_number_costs_995_sek_and_other_currencies_have_no_price() -> None:
    number = AddOn.order(
        uuid4(), "virtual_number", "+46701234567", "SEK", date(2027, 1, 1), "UTC", NOW
    )
    assert number.price_per_year == 99_500
    with pytest.raises(InvalidRequestError):
        AddOn.order(uuid4(), "virtual_number", None, "EUR", date(2027, 1, 1), "UTC", NOW)
    with pytest.raises(InvalidRequestError):
        AddOn.order(uuid4(), "stickers", None, "SEK", date(2027, 1, 1), "UTC", NOW)
