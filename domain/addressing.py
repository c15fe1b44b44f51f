"""Recipients and senders: MSISDN normalisation and the sender-name rules.

Number parsing and validity come from ``phonenumbers`` (Google's libphonenumber
metadata); hand-rolled rules would drift from the numbering plans it tracks.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import phonenumbers

from smsledger.domain.errors import (
    InvalidRecipientError,
    InvalidRequestError,
    InvalidSenderError,
)

# E.164 allows at most 15 digits; the raw-length cap only stops absurd input early and
# keeps it out of error messages, so it leaves room for generous formatting.
_E164_MAX_DIGITS = 15
_RAW_MAX_LENGTH = 40
# Formatting a person may type; anything else (letters, "ext.", "#") is refused rather
# than guessed at: phonenumbers would read "+1800FLOWERS" as digits and drop extensions.
_SEPARATORS = re.compile(r"[\s\-().]")
_DIGITS = re.compile(r"\+?[0-9]+")
# No country calling code starts with 0, so "00" can only be the international prefix.
_INTERNATIONAL_PREFIX = "00"

# phonenumbers' own bounds for a parse: country codes have 1-3 digits, and a national
# significant number shorter than 2 digits is an error it reports itself.
_COUNTRY_CODE_MAX_DIGITS = 3
_NSN_MIN_DIGITS = 2
_NEVER = re.compile(r"(?!)")

_ALPHANUMERIC_MAX = 11
_NUMERIC_MAX_DIGITS = 15
_SENDER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -+_&")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_NUMERIC_SENDER = re.compile(r"\+?[0-9]+")


def _shown(value: str, limit: int = 24) -> str:
    """``value`` quoted for an error message, cut short so a huge input stays out of logs."""
    return repr(value) if len(value) <= limit else repr(value[:limit] + "…")


@dataclass(frozen=True, slots=True)
class Msisdn:
    """A valid number: E.164, its country calling code, its ISO 3166 region, and whether
    its numbering plan marks it as a fixed line only (which cannot receive SMS)."""

    e164: str
    country_code: int
    region: str  # alpha-2, "ZZ" when no country (non-geographic numbers)
    fixed_line: bool = False

    @property
    def north_american(self) -> bool:
        """Country calling code 1: the US, Canada and the rest of the NANP."""
        return self.country_code == 1


def parse_msisdn(raw: str, *, national_region: str | None = None) -> Msisdn:
    """``+46731234567``, ``46731234567`` or ``+46 73-123 45 67`` → ``+46731234567`` with
    its calling code and region, from ONE parse (a batch does this per recipient).

    Digits without a plus are read as international, country code first. Raises
    ``InvalidRecipientError`` (409) unless the result is a valid number.

    ``national_region`` (ISO 3166 alpha-2, ``SE``): a number written in that country's
    national form, one leading ``0`` (``070-123 45 67``), is read as that country's.
    The send path never passes it: a recipient is international there. A contact import
    of an older product's book may (``?country=SE``).
    """
    if not isinstance(raw, str):
        msg = f"the recipient must be a string of digits, got {type(raw).__name__}"
        raise InvalidRecipientError(msg)
    if len(raw) > _RAW_MAX_LENGTH:
        msg = f"recipient {_shown(raw)} is not a valid MSISDN: too long"
        raise InvalidRecipientError(msg)
    compact = _SEPARATORS.sub("", raw)
    if compact.startswith(_INTERNATIONAL_PREFIX):
        compact = "+" + compact[len(_INTERNATIONAL_PREFIX) :]
    if not _DIGITS.fullmatch(compact):
        msg = (
            f"recipient {_shown(raw)} is not a valid MSISDN: use digits with the country code, "
            "optionally after a '+'"
        )
        raise InvalidRecipientError(msg)
    if national_region is not None and compact.startswith("0"):  # "00" is "+" by now
        return _parsed(raw, _national(raw, compact, national_region))
    digits = compact.removeprefix("+")
    if len(digits) > _E164_MAX_DIGITS:
        msg = f"recipient {_shown(raw)} is not a valid MSISDN: more than 15 digits"
        raise InvalidRecipientError(msg)
    number = _plain_international(digits)
    if number is None:
        try:
            number = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            msg = f"recipient {_shown(raw)} is not a valid MSISDN: no such country code"
            raise InvalidRecipientError(msg) from None
    return _parsed(raw, number)


def _national(raw: str, compact: str, region: str) -> phonenumbers.PhoneNumber:
    """A national-form number (``0701234567``) read in ``region``."""
    if len(compact) > _E164_MAX_DIGITS + 1:
        msg = f"recipient {_shown(raw)} is not a valid MSISDN: more than 15 digits"
        raise InvalidRecipientError(msg)
    try:
        return phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException:
        msg = f"recipient {_shown(raw)} is not a valid MSISDN in {region}"
        raise InvalidRecipientError(msg) from None


def _parsed(raw: str, number: phonenumbers.PhoneNumber) -> Msisdn:
    # ``number_type`` is UNKNOWN exactly where ``is_valid_number`` is false (both match
    # the number against its region's patterns), so one call gives validity and the
    # line type: a second pass would cost each of 10,000 recipients again. ``line_type``
    # is ``number_type``, faster.
    kind = line_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        msg = (
            f"recipient {_shown(raw)} is not a valid MSISDN: not a number in the numbering "
            "plan of its country code"
        )
        raise InvalidRecipientError(msg)
    return Msisdn(
        str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)),
        number.country_code or 0,
        _region(number),
        kind == phonenumbers.PhoneNumberType.FIXED_LINE,
    )


# The number types ``phonenumbers.number_type`` tries after the general description,
# in its order; fixed line and mobile come last, as there.
_SPECIAL_TYPES = (
    ("premium_rate", phonenumbers.PhoneNumberType.PREMIUM_RATE),
    ("toll_free", phonenumbers.PhoneNumberType.TOLL_FREE),
    ("shared_cost", phonenumbers.PhoneNumberType.SHARED_COST),
    ("voip", phonenumbers.PhoneNumberType.VOIP),
    ("personal_number", phonenumbers.PhoneNumberType.PERSONAL_NUMBER),
    ("pager", phonenumbers.PhoneNumberType.PAGER),
    ("uan", phonenumbers.PhoneNumberType.UAN),
    ("voicemail", phonenumbers.PhoneNumberType.VOICEMAIL),
)

_Desc = tuple[frozenset[int], "re.Pattern[str]"] | None
"""A number description: its possible lengths (empty: any) and its pattern; ``None``
where the metadata has none (or an empty pattern), which matches nothing."""


@dataclass(frozen=True, slots=True)
class _TypeTable:
    general: _Desc
    special: tuple[tuple[_Desc, int], ...]
    fixed_line: _Desc
    mobile: _Desc
    same_mobile_and_fixed_line: bool
    # By length: one pattern, the alternation of every special type's a number of that
    # length may match, or ``None`` if none may. A number it does not fully match
    # matches no special type (a full match of ``(?:A)|(?:B)`` is one of A or of B), so
    # the common case (a mobile) takes one match instead of eight.
    any_special: dict[int, re.Pattern[str] | None] = field(default_factory=dict)

    def special_for(self, length: int) -> re.Pattern[str] | None:
        try:
            return self.any_special[length]
        except KeyError:
            patterns = [
                desc[1].pattern
                for desc, _ in self.special
                if desc is not None and (not desc[0] or length in desc[0])
            ]
            found = self.any_special[length] = (
                re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
            )
            return found


def _desc(number_desc: phonenumbers.PhoneNumberDesc | None) -> _Desc:
    if number_desc is None or not number_desc.national_number_pattern:
        return None
    return frozenset(number_desc.possible_length), re.compile(number_desc.national_number_pattern)


@functools.cache
def _type_table(country_code: int) -> _TypeTable | None:
    """The descriptions ``number_type`` matches a number of this calling code against,
    compiled once; ``None`` for a code several regions share (which region's depends on
    the number: left to ``phonenumbers``) or one without metadata."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None or len(regions) != 1:
        return None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, regions[0]
    )
    if metadata is None:
        return None
    return _TypeTable(
        _desc(metadata.general_desc),
        tuple((_desc(getattr(metadata, name)), kind) for name, kind in _SPECIAL_TYPES),
        _desc(metadata.fixed_line),
        _desc(metadata.mobile),
        bool(metadata.same_mobile_and_fixed_line_pattern),
    )


def _matches(nsn: str, desc: _Desc) -> bool:
    # As phonenumbers' ``_is_number_matching_desc``: lengths first, then a full match.
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and len(nsn) not in lengths:
        return False
    return pattern.fullmatch(nsn) is not None


def line_type(number: phonenumbers.PhoneNumber) -> int:
    """``phonenumbers.number_type(number)``, the same answer for every number, at a
    third of the cost for a calling code of one region (``+46``): the same
    descriptions matched in the same order, with the patterns compiled once and none of
    the library's per-call lookups (its ``number_type`` was ~95 ms of a
    10,000-recipient send). ``tests/unit/test_line_type.py`` checks it against
    ``phonenumbers`` for example numbers of every region and generated ones."""
    table = _type_table(number.country_code or 0)
    if table is None:
        return int(phonenumbers.number_type(number))
    nsn = phonenumbers.national_significant_number(number)
    if not _matches(nsn, table.general):
        return phonenumbers.PhoneNumberType.UNKNOWN
    special = table.special_for(len(nsn))
    if special is not None and special.fullmatch(nsn) is not None:
        for desc, kind in table.special:
            if _matches(nsn, desc):
                return kind
    if _matches(nsn, table.fixed_line):
        if table.same_mobile_and_fixed_line or _matches(nsn, table.mobile):
            return phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
        return phonenumbers.PhoneNumberType.FIXED_LINE
    if not table.same_mobile_and_fixed_line and _matches(nsn, table.mobile):
        return phonenumbers.PhoneNumberType.MOBILE
    return phonenumbers.PhoneNumberType.UNKNOWN


def _plain_international(digits: str) -> phonenumbers.PhoneNumber | None:
    """What ``phonenumbers.parse("+" + digits)`` gives, built directly when the parse
    would only split the country code off; ``None`` when it would do more.

    ``parse`` is generic (any text, any region) and costs about 15 us, half of each
    recipient's check in a 10,000-recipient send. For ASCII digits after a plus it
    takes the country code (the shortest known prefix of 1-3 digits), then changes the
    rest only in two cases, left to ``parse`` here: the rest starts with what the
    country's metadata reads as a national prefix (it may strip it), or with a 0 (it
    records leading zeros). Short or unknown-country input goes to ``parse`` as well,
    for its own errors. Validity stays with ``phonenumbers.is_valid_number``.
    """
    if digits.startswith("0"):
        return None
    for length in range(1, min(len(digits), _COUNTRY_CODE_MAX_DIGITS) + 1):
        country_code = int(digits[:length])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[length:]
    if len(national) < _NSN_MIN_DIGITS or national.startswith("0"):
        return None
    prefix = _national_prefix_for_parsing(country_code)
    if prefix is None or prefix.match(national):
        return None
    return phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))


@functools.cache
def _national_prefix_for_parsing(country_code: int) -> re.Pattern[str] | None:
    """The national-prefix pattern ``parse`` tries on a number of this country code;
    one that never matches when there is none, ``None`` without metadata."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return None
    pattern = metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else _NEVER


def check_region(region: object) -> str:
    """An ISO 3166 alpha-2 code with a numbering plan (``SE``); ``InvalidRequestError``."""
    if not isinstance(region, str) or region not in phonenumbers.SUPPORTED_REGIONS:
        msg = f"country must be an ISO 3166 alpha-2 code with a numbering plan, got {region!r}"
        raise InvalidRequestError(msg)
    return region


def normalise_msisdn(raw: str) -> str:
    """``parse_msisdn(raw)``'s E.164 form."""
    return parse_msisdn(raw).e164


def _region(number: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_number(number)
    # Non-geographic numbers (+800, +882, ...) come back as "001", which is no country.
    if not isinstance(region, str) or len(region) != 2 or not region.isalpha():
        return "ZZ"
    return region


def country_of(e164: str) -> str:
    """ISO 3166 alpha-2 region of a normalised number, ``"ZZ"`` when unknown."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "ZZ"
    return _region(number)


def is_north_american(e164: str) -> bool:
    """Country calling code 1: the US, Canada and the rest of the NANP."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(number.country_code == 1)


def validate_sender(sender: str) -> str:
    """``sender`` unchanged if valid, else ``InvalidSenderError`` (407).

    Valid: alphanumeric, 1-11 of ``A-Z a-z 0-9 space - + _ &`` with at least one letter;
    or numeric, 1-15 digits after an optional leading ``+``.
    """
    if not isinstance(sender, str):
        msg = f"the sender must be a string, got {type(sender).__name__}"
        raise InvalidSenderError(msg)
    if not sender:
        msg = "the sender is empty"
        raise InvalidSenderError(msg)
    if _NUMERIC_SENDER.fullmatch(sender):
        digits = len(sender.removeprefix("+"))
        if digits > _NUMERIC_MAX_DIGITS:
            msg = f"numeric sender {_shown(sender)} has {digits} digits; at most 15 are allowed"
            raise InvalidSenderError(msg)
        return sender
    illegal = sorted({ch for ch in sender if ch not in _SENDER_CHARS})
    if illegal:
        msg = (
            f"sender {_shown(sender)} holds characters not allowed in an alphanumeric sender "
            f"({', '.join(repr(ch) for ch in illegal[:5])}); use A-Z a-z 0-9 space - + _ &"
        )
        raise InvalidSenderError(msg)
    if len(sender) > _ALPHANUMERIC_MAX:
        msg = (
            f"alphanumeric sender {_shown(sender)} is {len(sender)} characters; "
            "at most 11 are allowed"
        )
        raise InvalidSenderError(msg)
    if not _ASCII_LETTER.search(sender):
        msg = f"alphanumeric sender {_shown(sender)} must contain at least one letter A-Z or a-z"
        raise InvalidSenderError(msg)
    return sender
