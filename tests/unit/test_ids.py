"""Message ids are UUIDv7 (RFC 9562) of the time passed in: ordered by it, still random."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsledger.domain.ids import time_ordered_id

TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)


@given(TIMES)
def test_an_id_is_a_version_7_uuid_that_starts_with_its_millisecond(now: datetime) -> None:
    made = time_ordered_id(now)
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    ms = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert made.int >> 80 == ms
    assert made.bytes[:6] == ms.to_bytes(6, "big")  # what PostgreSQL's uuid order compares


@given(TIMES, st.integers(min_value=1, max_value=10**9))
def test_a_later_millisecond_sorts_after_as_uuid_and_as_bytes(now: datetime, gap: int) -> None:
    later = now + timedelta(milliseconds=gap)
    if later.year > 9999:
        return
    first, second = time_ordered_id(now), time_ordered_id(later)
    assert first < second
    assert first.bytes < second.bytes


def test_ids_of_one_millisecond_differ_in_their_74_random_bits() -> None:
    now = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    made = {time_ordered_id(now) for _ in range(10_000)}
    assert len(made) == 10_000
    assert len({u.int >> 80 for u in made}) == 1
    # Every random bit takes both values across them (none fixed by mistake).
    random_bits = [*range(62), *range(64, 76)]
    for bit in random_bits:
        assert len({u.int >> bit & 1 for u in made}) == 2, bit


def test_a_time_before_1970_is_refused() -> None:
    with pytest.raises(ValueError, match="UUIDv7 time range"):
        time_ordered_id(datetime(1969, 12, 31, 23, 59, tzinfo=UTC))
