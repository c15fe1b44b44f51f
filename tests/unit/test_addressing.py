"""Recipient normalisation to E.164, country lookup, NANP detection and sender rules."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smsledger.domain.addressing import (
    _plain_international,
    country_of,
    is_north_american,
    normalise_msisdn,
    parse_msisdn,
    validate_sender,
)
from smsledger.domain.errors import InvalidRecipientError, InvalidSenderError


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        pytest.param("+46731234567", "+46731234567", id="e164-unchanged"),
        pytest.param("46731234567", "+46731234567", id="digits-read-as-international"),
        pytest.param("+46 73-123 45 67", "+46731234567", id="spaces-and-dashes-tolerated"),
        pytest.param(" 46731234567\n", "+46731234567", id="surrounding-whitespace-tolerated"),
        pytest.param("0046731234567", "+46731234567", id="00-international-prefix"),
        pytest.param("+1 (202) 555-0123", "+12025550123", id="us-formatting-tolerated"),
        pytest.param("4796000000", "+4796000000", id="norwegian-mobile"),
    ],
)
def test_number_normalises_to_e164(raw: str, e164: str) -> None:
    assert normalise_msisdn(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("+", id="plus-only"),
        pytest.param("0731234567", id="national-format-without-country-code"),
        pytest.param("+4673", id="too-short-for-sweden"),
        pytest.param("+467312345678901", id="too-long-for-sweden"),
        pytest.param("+1234567890123456", id="more-than-15-digits"),
        pytest.param("+999123456", id="unassigned-country-code"),
        pytest.param("+1800FLOWERS", id="vanity-letters"),
        pytest.param("+46731234567 ext 12", id="extension"),
        pytest.param("++46731234567", id="double-plus"),
        pytest.param("4673123456７", id="fullwidth-digit"),
        pytest.param("4" * 500, id="absurd-length"),
    ],
)
def test_invalid_number_is_rejected_with_409(raw: str) -> None:
    with pytest.raises(InvalidRecipientError) as caught:
        normalise_msisdn(raw)
    assert caught.value.code == 409
    assert "not a valid MSISDN" in caught.value.detail
    assert len(caught.value.detail) < 200


@pytest.mark.parametrize("raw", [None, 46731234567, b"+46731234567"])
def test_non_string_recipient_is_rejected_with_409(raw: object) -> None:
    with pytest.raises(InvalidRecipientError):
        normalise_msisdn(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("e164", "country"),
    [
        pytest.param("+46731234567", "SE", id="sweden"),
        pytest.param("+4796000000", "NO", id="norway"),
        pytest.param("+4915123456789", "DE", id="germany"),
        pytest.param("+12025550123", "US", id="us"),
        pytest.param("+14165550123", "CA", id="canada"),
        pytest.param("+18765550123", "JM", id="jamaica-shares-code-1"),
        pytest.param("+80012345678", "ZZ", id="non-geographic-800-is-no-country"),
        pytest.param("not a number", "ZZ", id="garbage"),
    ],
)
def test_country_of_a_number_is_its_iso_region(e164: str, country: str) -> None:
    assert country_of(e164) == country


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        pytest.param("+12025550123", True, id="us"),
        pytest.param("+14165550123", True, id="canada"),
        pytest.param("+18765550123", True, id="jamaica"),
        pytest.param("+46731234567", False, id="sweden"),
        pytest.param("+4915123456789", False, id="germany"),
        pytest.param("garbage", False, id="garbage"),
    ],
)
def test_country_code_1_is_north_american(e164: str, expected: bool) -> None:
    assert is_north_american(e164) is expected


@pytest.mark.parametrize(
    "raw",
    ["+46731234567", "4796000000", "+49 151 2345 6789", "+12025550123", "+18765550123"],
)
def test_one_parse_gives_what_the_separate_helpers_give(raw: str) -> None:
    # A batch parses each recipient once: the result must agree with the helpers.
    number = parse_msisdn(raw)
    assert number.e164 == normalise_msisdn(raw)
    assert number.region == country_of(number.e164)
    assert number.north_american is is_north_american(number.e164)
    assert number.country_code == int(number.e164[1 : 1 + len(str(number.country_code))])


_COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.text("0123456789", min_size=1, max_size=15),
        st.builds(
            lambda cc, rest: (str(cc) + rest)[:15],
            st.sampled_from(_COUNTRY_CODES),
            st.text("0123456789", max_size=13),
        ),
    )
)
@example("46731234567")  # the common case: built without parse
@example("460731234567")  # a national prefix after the country code: left to parse
@example("390612345678")  # Italy's leading zero: left to parse
@example("12025550123")  # +1: many regions share the code
@example("4")  # too short: parse's own error
def test_fast_path_builds_exactly_what_parse_gives(digits: str) -> None:
    # The shortcut may decline (None), but what it builds must be parse's own answer.
    built = _plain_international(digits)
    if built is not None:
        assert built == phonenumbers.parse("+" + digits, None)


@pytest.mark.parametrize(
    "sender",
    [
        pytest.param("Acme", id="word"),
        pytest.param("Acme Co-op", id="space-and-dash"),
        pytest.param("A", id="one-letter"),
        pytest.param("ACME_2024&B", id="eleven-chars-with-underscore-and-ampersand"),
        pytest.param("+Acme", id="plus-in-alphanumeric"),
        pytest.param("12345", id="numeric"),
        pytest.param("123", id="short-numeric"),
        pytest.param("+46701234567", id="numeric-with-plus"),
        pytest.param("123456789012345", id="fifteen-digits"),
        pytest.param("+123456789012345", id="fifteen-digits-after-plus"),
    ],
)
def test_valid_sender_is_returned_unchanged(sender: str) -> None:
    assert validate_sender(sender) == sender


@pytest.mark.parametrize(
    ("sender", "fragment"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   ", "at least one letter", id="spaces-only"),
        pytest.param("12-34", "at least one letter", id="digits-and-dash-no-letter"),
        pytest.param("+", "at least one letter", id="plus-only"),
        pytest.param("Acme Company Ltd", "16 characters; at most 11", id="longer-than-11"),
        pytest.param("12345678901234567", "17 digits; at most 15", id="more-than-15-digits"),
        pytest.param("Åke", "'Å'", id="non-ascii-letter"),
        pytest.param("Acme!", "'!'", id="punctuation"),
        pytest.param("Acme\n", "'\\n'", id="trailing-newline"),
        pytest.param("１２３", "not allowed", id="fullwidth-digits"),
    ],
)
def test_invalid_sender_is_rejected_with_407(sender: str, fragment: str) -> None:
    with pytest.raises(InvalidSenderError) as caught:
        validate_sender(sender)
    assert caught.value.code == 407
    assert fragment in caught.value.detail


def test_non_string_sender_is_rejected_with_407() -> None:
    with pytest.raises(InvalidSenderError):
        validate_sender(12345)  # type: ignore[arg-type]
