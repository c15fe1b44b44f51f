"""Text the ledger stores: what a name, a reference or a number may hold.

Every text field a client fills in (an account name, a top-up or batch reference, a
sender, a recipient, a blocked number, a banned keyword) is one line of printable
text. A control character (NUL included), a line or paragraph separator, a lone
surrogate or a noncharacter is never part of such a value: it is a client bug or an
attempt to smuggle bytes, and PostgreSQL cannot even store NUL in a text column, so
one such value would stop every read model that copies it. These checks are the
domain's own, whatever the HTTP layer refused already, so no path can store them.

A message body is not checked here: its rules are the 408 of ``segments``.
Format characters (right-to-left marks, zero-width joiners in emoji) are text and
stay allowed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from smsledger.domain.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Sequence

# C0 and C1 controls and DEL (category Cc), the line and paragraph separators (Zl,
# Zp), the whole surrogate block (Cs: a Python str can hold half a pair, which has no
# UTF-8 form), and the noncharacters (U+FDD0-FDEF and the last two of every plane).
_ILLEGAL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)

LINE_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\ufdd0-\\ufdef\\ufffe\\uffff]*$"
"""``_ILLEGAL``'s complement as a JSON Schema pattern, for the OpenAPI document (which
cannot spell surrogates; JSON text cannot carry a lone one anyway)."""


# ASCII text (nearly every value) needs only the small class: about 14x faster than
# the whole one, whose astral noncharacters slow every search (4 ms against 0.3 ms
# over a 10,000-recipient batch).
_ILLEGAL_ASCII = re.compile("[\x00-\x1f\x7f]")


def illegal_character(value: str) -> str | None:
    """The first character ``value`` may not hold, or ``None`` if it is clean."""
    found = (_ILLEGAL_ASCII if value.isascii() else _ILLEGAL).search(value)
    return None if found is None else found.group()


def describe(ch: str) -> str:
    """``U+0000`` for an error message: the character itself may not print."""
    return f"U+{ord(ch):04X}"


def check_line(value: object, name: str, *, min_length: int = 1, max_length: int) -> str:
    """``value`` if it is a string of ``min_length``-``max_length`` characters, one line
    of printable text; ``InvalidRequestError`` (422) otherwise."""
    if not isinstance(value, str):
        msg = f"{name} must be a string, not {type(value).__name__}"
        raise InvalidRequestError(msg)
    if not min_length <= len(value) <= max_length:
        msg = f"{name} must be {min_length}-{max_length} characters"
        raise InvalidRequestError(msg)
    bad = illegal_character(value)
    if bad is not None:
        msg = f"{name} holds {describe(bad)}, a control or non-text character"
        raise InvalidRequestError(msg)
    return value


def check_lines(
    values: Sequence[object], name: str, *, min_length: int = 1, max_length: int
) -> None:
    """``check_line`` for many values at C speed: one scan of them all joined, and a
    second look only when that finds something (a 10,000-recipient send pays ~0.1 ms)."""
    if not all(type(v) is str and min_length <= len(v) <= max_length for v in values):
        msg = f"every {name} must be a string of {min_length}-{max_length} characters"
        raise InvalidRequestError(msg)
    # Legality is per character, so a clean concatenation means clean values.
    if illegal_character("".join(values)) is None:  # type: ignore[arg-type]
        return
    for i, value in enumerate(values):
        bad = illegal_character(value)  # type: ignore[arg-type]
        if bad is not None:
            msg = f"{name} {i} holds {describe(bad)}, a control or non-text character"
            raise InvalidRequestError(msg)


def has_surrogate(value: str) -> bool:
    """Whether ``value`` holds half a surrogate pair (no UTF-8 form: nothing can store it)."""
    return not value.isascii() and _SURROGATE.search(value) is not None


_SURROGATE = re.compile("[\ud800-\udfff]")
