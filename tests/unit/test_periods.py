"""Invoice periods are calendar months in the account's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smsledger.domain.errors import InvalidRequestError
from smsledger.domain.periods import next_period, parse_period, period_bounds, period_of


def test_late_utc_evening_on_the_last_day_belongs_to_next_month_in_stockholm() -> None:
    assert period_of(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "Europe/Stockholm") == "2026-12"
    assert period_of(datetime(2026, 11, 30, 22, 59, tzinfo=UTC), "Europe/Stockholm") == "2026-11"


def test_summer_time_offset_is_two_hours() -> None:
    # 2026-06-30T22:30Z is 00:30 on 1 July in Stockholm (CEST, +02:00).
    assert period_of(datetime(2026, 6, 30, 22, 30, tzinfo=UTC), "Europe/Stockholm") == "2026-07"
    assert period_of(datetime(2026, 6, 30, 21, 59, tzinfo=UTC), "Europe/Stockholm") == "2026-06"


def test_period_bounds_follow_the_daylight_saving_change() -> None:
    # March 2026: starts at CET (+01:00), ends at CEST (+02:00).
    start, end = period_bounds("2026-03", "Europe/Stockholm")
    assert start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)


def test_next_period_rolls_the_year() -> None:
    assert next_period("2026-12") == "2027-01"


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "", "2026-00"])
def test_malformed_period_is_rejected(bad: str) -> None:
    with pytest.raises(InvalidRequestError):
        period_bounds(bad, "Europe/Stockholm")


@pytest.mark.parametrize(
    "period", ["0000-01", "9999-12", "1969-12", "3000-01", "１２３４-01", "2026-１1", "2026-11\n"]
)
def test_a_period_outside_1970_to_2999_or_not_in_ascii_digits_is_refused(period: str) -> None:
    with pytest.raises(InvalidRequestError):
        parse_period(period)
    with pytest.raises(InvalidRequestError):
        period_bounds(period, "Europe/Stockholm")


def test_the_first_and_last_supported_periods_have_bounds() -> None:
    assert parse_period("1970-01") == (1970, 1)
    start, end = period_bounds("2999-12", "Pacific/Kiritimati")
    assert start < end
