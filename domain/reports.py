"""Delivery reports as they arrive: what makes one well formed, and its parsed form.

Reports come as plain mappings, the shape ``POST /v1/delivery-reports`` takes and the
gateways hand over (``message_id``, ``status_code``, ``at``, ``raw``). A malformed one is
an ``invalid`` outcome for that report alone, never an error for its whole batch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from smsledger.domain.times import in_window

MAX_REPORTS = 10_000
"""The most reports one batch may carry."""


@dataclass(frozen=True, slots=True)
class IncomingReport:
    """One well-formed report: our message id, the carrier's code and time, and the raw
    payload as received (kept in the history)."""

    message_id: UUID
    code: int
    at: datetime
    raw: Any


def parse_report(report: object) -> IncomingReport | None:
    """A well-formed report, or ``None`` if it is malformed (an ``invalid`` outcome).

    Malformed: no UUID ``message_id``; a ``status_code`` that is not an integer; an
    ``at`` missing, unparseable, without an offset or outside the years a ledger holds
    (``smsledger.domain.times``); a ``raw`` that is not JSON. An
    integer code outside the status table is well formed: it reads 599 Unknown.
    """
    if not isinstance(report, dict):
        return None
    mid = report.get("message_id")
    try:
        message_id = mid if isinstance(mid, UUID) else UUID(mid) if isinstance(mid, str) else None
    except ValueError:
        return None
    code = report.get("status_code")
    if message_id is None or type(code) is not int or not -(2**62) < code < 2**62:
        return None
    at = _aware(report.get("at"))
    if at is None:
        return None
    raw = report.get("raw")
    if raw is None:
        raw = {k: _plain(report.get(k)) for k in ("message_id", "status_code", "at")}
    elif not _is_json(raw):
        return None
    return IncomingReport(message_id, code, at, raw)


def _aware(value: object) -> datetime | None:
    if type(value) is str:
        return _aware_text(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    # One instant, one spelling (UTC): the duplicate check compares carrier times as
    # text. A time near year 1 or 9999 overflows on the way: ``invalid``, like any other.
    return in_window(value)


# A batch's reports share a few carrier times; the answer for a text is always the
# same, and a datetime is immutable, so one parse serves them all.
@functools.lru_cache(maxsize=1024)
def _aware_text(text: str) -> datetime | None:
    try:
        return in_window(datetime.fromisoformat(text))
    except ValueError:
        return None


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def _is_json(value: object, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if type(value) is dict and depth < 20:
        # The usual payload, a flat object of strings and numbers, without a call per
        # value: the same answers as the general case below (its leaves are one level
        # down, still inside the depth limit).
        if "_type_" in value:
            return False
        for k, v in value.items():
            if type(k) is not str or not (k.isascii() or _utf8(k)):
                return False
            kind = type(v)
            if kind is str:
                if not (v.isascii() or _utf8(v)):
                    return False
            elif kind is int:
                if not -(2**63) <= v < 2**63:
                    return False
            elif v is not None and kind is not bool and not _is_json(v, depth + 1):
                return False
        return True
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63  # what orjson writes
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        # The transcoder's own tag shape would not read back as it was written.
        if "_type_" in value:
            return False
        return all(type(k) is str and _utf8(k) and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _utf8(text: str) -> bool:
    if text.isascii():  # most payloads; no copy needed to know
        return True
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate: JSON allows it, the store does not
        return False
    return True
