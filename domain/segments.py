"""How many SMS parts a body takes, and in which encoding.

GSM 03.38 text costs one septet a character (two for the extension table) with 160
septets in one SMS and 153 a part; anything else makes the whole message UCS-2, 70
UTF-16 units in one SMS and 67 a part. Parts are packed greedily because an escape
pair or a surrogate pair is never split across two parts.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from domain.errors import InvalidContentError

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION: frozenset[str] = frozenset("^{}\\[~]|€\f")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
_ALLOWED_CONTROLS = frozenset("\n\r\f")


@dataclass(frozen=True, slots=True)
class Segmentation:
    encoding: Encoding
    segments: int
    units: int


def _check_legal(body: str) -> None:
    for i, ch in enumerate(body):
        cp = ord(ch)
        if ch in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            msg = f"illegal control character U+{cp:04X} at position {i}"
            raise InvalidContentError(msg)
        if category == "Cs":
            msg = f"lone surrogate U+{cp:04X} at position {i}"
            raise InvalidContentError(msg)
        if cp in (0xFFFE, 0xFFFF):
            msg = f"noncharacter U+{cp:04X} at position {i}"
            raise InvalidContentError(msg)


def _costs(body: str) -> tuple[Encoding, list[int]]:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body):
        return "GSM-7", [2 if ch in GSM7_EXTENSION else 1 for ch in body]
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in body]


def _pack(costs: list[int], per_part: int) -> int:
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts += 1
            used = 0
        used += cost
    return parts


def segment(body: str, *, max_parts: int = 10) -> Segmentation:
    """Encoding, parts and units of ``body``; ``InvalidContentError`` (408) if it can't go."""
    if not isinstance(body, str) or body == "":
        msg = "the body is empty"
        raise InvalidContentError(msg)
    _check_legal(body)
    encoding, costs = _costs(body)
    units = sum(costs)
    single, per_part = (GSM_SINGLE, GSM_PART) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
    parts = 1 if units <= single else _pack(costs, per_part)
    if parts > max_parts:
        msg = f"the body needs {parts} {encoding} parts ({units} units); the limit is {max_parts}"
        raise InvalidContentError(msg)
    return Segmentation(encoding, parts, units)
