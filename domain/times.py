"""The instants a ledger holds: from 1970 to the end of 2999, UTC, always with an offset.

Python's ``datetime`` spans years 1-9999 in local time, so a time near either end
overflows when converted across offsets (``0001-01-01T00:00:00+14:00`` to UTC), and a
period or a cursor built from one breaks further down. Nothing an SMS ledger records
happened before 1970 or will happen after 2999, so every time that comes in (a send
time, a delivery report's carrier time, a filter, a cursor, an as-of) is checked
against this one window, and every time that comes out is inside it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from smsledger.domain.errors import InvalidRequestError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
EARLIEST_YEAR = EARLIEST.year
LATEST_YEAR = LATEST.year
WINDOW = "between 1970-01-01 and 2999-12-31 UTC, with an offset"


def in_window(value: object) -> datetime | None:
    """``value`` in UTC if it is an aware datetime inside the window, else ``None``."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        return None
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the ends of datetime
        return None
    return utc if EARLIEST <= utc <= LATEST else None


def utc_text(value: datetime) -> str:
    """The one way an answer writes a time: RFC 3339 in UTC with ``Z``
    (``2026-11-02T09:00:00Z``), as pydantic and orjson (``OPT_UTC_Z``) write them too."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_time(value: object, name: str) -> datetime:
    """``value`` unchanged if ``in_window``; ``InvalidRequestError`` (422) otherwise."""
    if in_window(value) is None:
        msg = f"{name} must be a time {WINDOW}"
        raise InvalidRequestError(msg)
    assert isinstance(value, datetime)
    return value
