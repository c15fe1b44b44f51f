"""Invoice periods: calendar months in the account's own time zone."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from smsledger.domain.errors import InvalidRequestError
from smsledger.domain.times import EARLIEST_YEAR, LATEST_YEAR

# ASCII digits only (``\d`` would take full-width and other scripts' digits), and the
# whole string (``$`` would let a trailing newline through).
_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])", re.ASCII)
PERIOD_PATTERN = "^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"
"""What ``parse_period`` takes, years included, as a JSON Schema pattern (OpenAPI)."""
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


def parse_period(period: object) -> tuple[int, int]:
    """``'2026-11'`` → ``(2026, 11)``; ``InvalidRequestError`` if malformed or outside
    the years a ledger holds (1970-2999, ``smsledger.domain.times``)."""
    m = _PERIOD.fullmatch(period) if isinstance(period, str) else None
    if not m:
        shown = repr(period) if isinstance(period, str) and len(period) <= 24 else "that"
        msg = f"period must be YYYY-MM in ASCII digits, got {shown}"
        raise InvalidRequestError(msg)
    year = int(m.group(1))
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        msg = f"period must be in the years {EARLIEST_YEAR}-{LATEST_YEAR}, got {period}"
        raise InvalidRequestError(msg)
    return year, int(m.group(2))


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


def previous_period(period: str) -> str:
    """The month before ``period``."""
    year, month = parse_period(period)
    return f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"


def last_closed_period(now: datetime, timezone: str, grace: timedelta) -> str:
    """The newest period whose month ended, in ``timezone``, at least ``grace`` before
    ``now``: what month end may issue at ``now`` (late reports get ``grace`` to land on
    the invoice they belong to)."""
    return previous_period(period_of(now - grace, timezone))


def local_date(at: datetime, timezone: str) -> date:
    """The calendar date of instant ``at`` in ``timezone``."""
    if at.tzinfo is None:
        msg = "naive datetime: every time carries an offset"
        raise ValueError(msg)
    return at.astimezone(ZoneInfo(timezone)).date()
