"""How many SMS parts a body takes, and in which encoding.

GSM 03.38 (3GPP TS 23.038) text costs one septet a character, two for the extension
table (an ESC septet, then the character), with 160 septets in one SMS and 153 a part
once concatenated (the user data header takes the other 7). Any character outside both
tables makes the WHOLE message UCS-2: 70 UTF-16 code units in one SMS, 67 a part.

Parts are counted by greedy packing rather than division because an escape pair or a
surrogate pair is never split across two parts: handsets would show garbage for a half.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from smsledger.domain.errors import InvalidContentError

Encoding = Literal["GSM-7", "UCS-2"]

# The default alphabet in code-point order, 16 septets a row, so it can be checked
# against the standard's table at a glance. 0x1B is ESC (the extension-table escape),
# not a character, hence the gap in the second row.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"  # 0x10 (0x1B ESC omitted)
    " !\"#¤%&'()*+,-./"  # 0x20
    "0123456789:;<=>?"  # 0x30
    "¡ABCDEFGHIJKLMNO"  # 0x40
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50
    "¿abcdefghijklmno"  # 0x60
    "pqrstuvwxyzäöñüà"  # 0x70
)
# Extension table: each is sent as ESC + septet, so it costs two septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PER_PART = 153
UCS2_SINGLE = 70
UCS2_PER_PART = 67

# Line breaks and form feed are text; every other control character is a client bug
# (or an attempt to smuggle bytes to a handset), whichever encoding it would land in.
_ALLOWED_CONTROLS = frozenset("\n\r\f")
_NONCHARACTERS = frozenset("\ufffe\uffff")
_UNIT_NAMES: dict[Encoding, str] = {"GSM-7": "septets", "UCS-2": "UTF-16 code units"}


# ``_check_legal``'s rule as one class, for text already accepted that is copied on
# (a read model, an answer): control characters but line feed, carriage return and
# form feed, surrogates, and the two noncharacters. A regex search is about a
# microsecond a body, where the per-character check costs one per character.
_ILLEGAL_IN_BODY = re.compile("[\x00-\x09\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def shown_body(body: str) -> str | None:
    """``body`` if every character of it may be in an SMS; ``None`` for the body of a
    message that was 408 for an illegal character, which no answer or read model
    copies (PostgreSQL cannot even hold a NUL in text)."""
    return None if _ILLEGAL_IN_BODY.search(body) else body


@dataclass(frozen=True, slots=True)
class Segmentation:
    """A body's encoding, its number of SMS parts, and its length in that encoding's units.

    ``units`` is septets for GSM-7 (escape septets included) and UTF-16 code units for
    UCS-2 (a character outside the BMP counts two).
    """

    encoding: Encoding
    segments: int
    units: int


def _check_legal(body: str) -> None:
    for position, ch in enumerate(body):
        if ch in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            problem = "control character"
        elif category == "Cs":
            # A Python str can hold half a surrogate pair; it has no UTF-16 encoding.
            problem = "unpaired surrogate"
        elif ch in _NONCHARACTERS:
            problem = "noncharacter"
        else:
            continue
        msg = (
            f"the body holds an illegal {problem} U+{ord(ch):04X} at position {position}; "
            "only line feed, carriage return and form feed are allowed among control characters"
        )
        raise InvalidContentError(msg)


def _costs(body: str) -> tuple[Encoding, list[int]]:
    """The encoding and the units each character costs in it."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body):
        return "GSM-7", [2 if ch in GSM7_EXTENSION else 1 for ch in body]
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in body]


def _pack(costs: list[int], per_part: int) -> int:
    """Parts needed when no character's units may straddle two parts."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts += 1
            used = 0
        used += cost
    return parts


def segment(body: str, *, max_parts: int = 10) -> Segmentation:
    """Encoding, parts and units of ``body``.

    Raises ``InvalidContentError`` (408) when the body is empty, holds an illegal
    character, or needs more than ``max_parts`` parts.
    """
    if max_parts < 1:
        msg = f"max_parts must be at least 1, got {max_parts}"
        raise ValueError(msg)
    if not isinstance(body, str) or not body:
        msg = "the message body is empty"
        raise InvalidContentError(msg)
    _check_legal(body)
    encoding, costs = _costs(body)
    units = sum(costs)
    if encoding == "GSM-7":
        single, per_part = GSM7_SINGLE, GSM7_PER_PART
    else:
        single, per_part = UCS2_SINGLE, UCS2_PER_PART
    # A body that fits one SMS has no user data header, so it gets the whole 160/70.
    parts = 1 if units <= single else _pack(costs, per_part)
    if parts > max_parts:
        msg = (
            f"the message body is too long: {units} {_UNIT_NAMES[encoding]} in {encoding} "
            f"needs {parts} parts, and the limit is {max_parts}"
        )
        raise InvalidContentError(msg)
    return Segmentation(encoding=encoding, segments=parts, units=units)
