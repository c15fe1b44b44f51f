"""``line_type`` gives ``phonenumbers.number_type``'s answer for every number.

It is a faster route to the same answer (a recipient's validity and whether it is a
fixed line decide 409 and 410), so it is checked against the library itself: the
library's example number of every type of every region and non-geographic entity,
those examples with a digit changed, added or dropped, and numbers made of any digits
under every calling code."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsledger.domain.addressing import line_type

CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
TYPES = sorted(phonenumbers.PhoneNumberType.values())


def examples() -> list[phonenumbers.PhoneNumber]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append(number)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.append(number)
    return found


EXAMPLES = examples()


def same(number: phonenumbers.PhoneNumber) -> None:
    assert line_type(number) == phonenumbers.number_type(number), number


def test_every_example_number_of_every_type_and_region() -> None:
    assert len(EXAMPLES) > 1_000
    kinds = set()
    for number in EXAMPLES:
        same(number)
        kinds.add(line_type(number))
    # The examples reach every answer the send path tells apart.
    assert {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    } <= kinds


def _rebuilt(number: phonenumbers.PhoneNumber, nsn: str) -> phonenumbers.PhoneNumber:
    zeros = len(nsn) - len(nsn.lstrip("0"))
    return phonenumbers.PhoneNumber(
        country_code=number.country_code,
        national_number=int(nsn or "0"),
        italian_leading_zero=zeros > 0 or None,
        number_of_leading_zeros=zeros if zeros > 1 else None,
    )


@settings(max_examples=3_000, deadline=None)
@given(
    example=st.sampled_from(EXAMPLES),
    at=st.integers(0, 20),
    digit=st.sampled_from("0123456789"),
    how=st.sampled_from(["change", "add", "drop"]),
)
def test_example_numbers_with_a_digit_changed(
    example: phonenumbers.PhoneNumber, at: int, digit: str, how: str
) -> None:
    nsn = phonenumbers.national_significant_number(example)
    at = min(at, len(nsn) - 1)
    if how == "change":
        nsn = nsn[:at] + digit + nsn[at + 1 :]
    elif how == "add":
        nsn = nsn[:at] + digit + nsn[at:]
    else:
        nsn = nsn[:at] + nsn[at + 1 :]
    same(_rebuilt(example, nsn))


@settings(max_examples=3_000, deadline=None)
@given(code=st.sampled_from(CODES), digits=st.text("0123456789", min_size=1, max_size=15))
def test_any_digits_under_any_calling_code(code: int, digits: str) -> None:
    same(phonenumbers.PhoneNumber(country_code=code, national_number=int(digits)))


@pytest.mark.parametrize("code", [0, 999, 3_000])
def test_a_calling_code_without_metadata(code: int) -> None:
    same(phonenumbers.PhoneNumber(country_code=code, national_number=12345678))
