"""Invoice periods: calendar months in the account's own time zone."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from smsledger.domain.errors import InvalidRequestError

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DEFAULT_TIMEZONE = "Europe/Stockholm"


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA time zone, else raise ``InvalidRequestError``."""
    if name not in available_timezones():
        msg = f"unknown time zone {name!r}; use an IANA name such as 'Europe/Stockholm'"
        raise InvalidRequestError(msg)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {name!r}"
        raise InvalidRequestError(msg) from None
    return name


@functools.lru_cache(maxsize=1024)
def period_of(at: datetime, timezone: str) -> str:
    """The ``YYYY-MM`` period that instant ``at`` falls in, in ``timezone``.

    Cached: a batch funds every message at one instant. Equal datetimes are the same
    instant, whatever their offsets, so a hit always gives the right period."""
    if at.tzinfo is None:
        msg = "naive datetime: every time carries an offset"
        raise ValueError(msg)
    local = at.astimezone(ZoneInfo(timezone))
    return f"{local.year:04d}-{local.month:02d}"


def parse_period(period: str) -> tuple[int, int]:
    """``'2026-11'`` → ``(2026, 11)``; ``InvalidRequestError`` if malformed."""
    m = _PERIOD.match(period)
    if not m:
        msg = f"period must be YYYY-MM, got {period!r}"
        raise InvalidRequestError(msg)
    return int(m.group(1)), int(m.group(2))


def period_bounds(period: str, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of a period in ``timezone``."""
    year, month = parse_period(period)
    tz = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def next_period(period: str) -> str:
    """The month after ``period``."""
    year, month = parse_period(period)
    return f"{year + (month == 12):04d}-{month % 12 + 1:02d}"
