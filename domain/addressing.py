"""Recipients and senders: MSISDN normalisation (with ``phonenumbers``) and sender rules."""

from __future__ import annotations

import re

import phonenumbers

from domain.errors import InvalidRecipientError, InvalidSenderError

_ALPHANUMERIC = re.compile(r"^[A-Za-z0-9 +\-_&]{1,11}$")
_HAS_LETTER = re.compile(r"[A-Za-z]")
_NUMERIC = re.compile(r"^\+?[0-9]{1,15}$")
_SEPARATORS = re.compile(r"[\s\-().]")


def normalise_msisdn(raw: str) -> str:
    """``+46731234567`` or ``46731234567`` → ``+46731234567``; 409 if not a valid MSISDN."""
    if not isinstance(raw, str) or not 3 <= len(raw) <= 32:
        msg = f"{raw!r} is not a valid MSISDN"
        raise InvalidRecipientError(msg)
    digits = _SEPARATORS.sub("", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        digits = "+" + digits
    try:
        number = phonenumbers.parse(digits, None)
    except phonenumbers.NumberParseException:
        msg = f"{raw!r} is not a valid MSISDN"
        raise InvalidRecipientError(msg) from None
    if not phonenumbers.is_valid_number(number):
        msg = f"{raw!r} is not a valid MSISDN"
        raise InvalidRecipientError(msg)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_of(e164: str) -> str:
    """ISO 3166 alpha-2 region of a normalised number, ``"ZZ"`` when unknown."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "ZZ"
    return phonenumbers.region_code_for_number(number) or "ZZ"


def is_north_american(e164: str) -> bool:
    """Country calling code 1: the US, Canada and the rest of the NANP."""
    return e164.startswith("+1")


def validate_sender(sender: str) -> str:
    """The sender if valid, else 407: alphanumeric 1–11 with a letter, or up to 15 digits."""
    if isinstance(sender, str):
        if _NUMERIC.match(sender):
            return sender
        if _ALPHANUMERIC.match(sender) and _HAS_LETTER.search(sender):
            return sender
    msg = (
        f"sender {sender!r} is invalid: use 1-11 of A-Z a-z 0-9 space - + _ & with at least "
        "one letter, or up to 15 digits"
    )
    raise InvalidSenderError(msg)
