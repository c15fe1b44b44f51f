"""How bodies split into SMS parts: GSM-7 vs UCS-2, escape and surrogate pairs, limits."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsledger.domain.errors import InvalidContentError
from smsledger.domain.segments import GSM7_BASIC, GSM7_EXTENSION, Segmentation, segment

EMOJI = "\U0001f600"  # outside the BMP: a surrogate pair, 2 UTF-16 units
case = pytest.param  # short, so each row of the tables below fits one line


@pytest.mark.parametrize(
    ("body", "max_parts", "expected"),
    [
        case("a" * 160, 10, Segmentation("GSM-7", 1, 160), id="160-gsm-chars-fit-one-sms"),
        case("a" * 161, 10, Segmentation("GSM-7", 2, 161), id="161-gsm-chars-take-two-parts"),
        case("a" * 306, 10, Segmentation("GSM-7", 2, 306), id="306-gsm-chars-fill-two-parts"),
        case("a" * 307, 10, Segmentation("GSM-7", 3, 307), id="307-gsm-chars-take-three-parts"),
        case("a" * 1530, 10, Segmentation("GSM-7", 10, 1530), id="1530-gsm-chars-fill-ten-parts"),
        case("a" * 1531, 11, Segmentation("GSM-7", 11, 1531), id="1531-ok-with-max-parts-11"),
        case("€" * 80, 10, Segmentation("GSM-7", 1, 160), id="80-euro-signs-are-160-septets"),
        case("€" * 81, 10, Segmentation("GSM-7", 2, 162), id="81-euro-signs-take-two-parts"),
        # One SMS has no part boundary: 152 + € is 154 septets, within 160.
        case("a" * 152 + "€", 10, Segmentation("GSM-7", 1, 154), id="escape-pair-in-one-sms"),
        case("a" * 159 + "€", 10, Segmentation("GSM-7", 2, 161), id="euro-as-septet-161"),
        # 306 septets would fill exactly 2 parts, but the € cannot straddle 153/154, so
        # part 1 holds 152 septets and the last "a" spills into part 3.
        case(
            "a" * 152 + "€" + "a" * 152,
            10,
            Segmentation("GSM-7", 3, 306),
            id="escape-pair-not-split-at-153",
        ),
        case(
            "a" * 153 + "€" + "a" * 151,
            10,
            Segmentation("GSM-7", 2, 306),
            id="escape-pair-starting-part-2-fits",
        ),
        case("ł" * 70, 10, Segmentation("UCS-2", 1, 70), id="70-ucs2-chars-fit-one-sms"),
        case("ł" * 71, 10, Segmentation("UCS-2", 2, 71), id="71-ucs2-chars-take-two-parts"),
        case("ł" * 134, 10, Segmentation("UCS-2", 2, 134), id="134-ucs2-chars-fill-two-parts"),
        case("ł" * 135, 10, Segmentation("UCS-2", 3, 135), id="135-ucs2-chars-take-three-parts"),
        case(EMOJI * 35, 10, Segmentation("UCS-2", 1, 70), id="35-emoji-are-70-units"),
        case("ł" * 66 + EMOJI, 10, Segmentation("UCS-2", 1, 68), id="surrogate-pair-in-one-sms"),
        case("ł" * 69 + EMOJI, 10, Segmentation("UCS-2", 2, 71), id="emoji-as-unit-71"),
        # 134 units would fill exactly 2 parts, but the emoji cannot straddle 67/68.
        case(
            "ł" * 66 + EMOJI + "ł" * 66,
            10,
            Segmentation("UCS-2", 3, 134),
            id="surrogate-pair-not-split-at-67",
        ),
        case(
            "ł" * 67 + EMOJI + "ł" * 65,
            10,
            Segmentation("UCS-2", 2, 134),
            id="surrogate-pair-starting-part-2-fits",
        ),
        case("Hej " * 10 + "ł", 10, Segmentation("UCS-2", 1, 41), id="one-polish-char-is-ucs2"),
        case("Hello 你好", 10, Segmentation("UCS-2", 1, 8), id="chinese-is-ucs2"),
        case("Hej Åsa, 5 € på ditt § ¿", 10, Segmentation("GSM-7", 1, 25), id="nordic-text-is-gsm"),
        case("ΔΦΓΛΩΠΨΣΘΞ", 10, Segmentation("GSM-7", 1, 10), id="greek-capitals-are-gsm"),
        case("line\r\nnext\fpage", 10, Segmentation("GSM-7", 1, 16), id="cr-lf-ff-are-legal"),
        case("ł\n", 10, Segmentation("UCS-2", 1, 2), id="line-feed-is-legal-in-ucs2"),
    ],
)
def test_body_splits_into_parts(body: str, max_parts: int, expected: Segmentation) -> None:
    assert segment(body, max_parts=max_parts) == expected


@pytest.mark.parametrize(
    ("body", "max_parts", "fragment"),
    [
        case("", 10, "empty", id="empty-body"),
        case("a" * 1531, 10, "needs 11 parts, and the limit is 10", id="1531-gsm-chars-over-10"),
        case("ł" * 671, 10, "needs 11 parts, and the limit is 10", id="671-ucs2-chars-over-10"),
        case("a" * 161, 1, "needs 2 parts, and the limit is 1", id="two-parts-over-limit-1"),
        case("hi\x00there", 10, "control character U+0000 at position 2", id="nul"),
        case("tab\there", 10, "control character U+0009", id="tab"),
        case("ł\x1b", 10, "control character U+001B", id="escape-in-ucs2"),
        case("\x7f", 10, "control character U+007F", id="delete"),
        case("a\ud83d", 10, "unpaired surrogate U+D83D", id="lone-high-surrogate"),
        case("\ude00b", 10, "unpaired surrogate U+DE00", id="lone-low-surrogate"),
        case("x\uffff", 10, "noncharacter U+FFFF", id="noncharacter-ffff"),
        case("\ufffe", 10, "noncharacter U+FFFE", id="noncharacter-fffe"),
    ],
)
def test_invalid_body_is_rejected_with_408(body: str, max_parts: int, fragment: str) -> None:
    with pytest.raises(InvalidContentError) as caught:
        segment(body, max_parts=max_parts)
    assert caught.value.code == 408
    assert fragment in caught.value.detail


def test_default_limit_is_ten_parts() -> None:
    assert segment("a" * 1530).segments == 10
    with pytest.raises(InvalidContentError):
        segment("a" * 1531)


def test_max_parts_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_parts"):
        segment("hi", max_parts=0)


def test_gsm_tables_hold_the_full_3gpp_alphabet() -> None:
    # 128 septets minus ESC, and the 10 characters of the default extension table.
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    for ch in "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r":
        assert ch in GSM7_BASIC, unicodedata.name(ch, repr(ch))
    # Greek capitals, not look-alikes (Ω OHM SIGN U+2126 is not in the alphabet).
    assert "\u03a9" in GSM7_BASIC
    assert "\u2126" not in GSM7_BASIC
    assert set("^{}\\[~]|€\f") == GSM7_EXTENSION
    assert "`" not in GSM7_BASIC | GSM7_EXTENSION


def _cost(ch: str, encoding: str) -> int:
    if encoding == "GSM-7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


gsm_text = st.text(
    alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)), min_size=1, max_size=800
)
# Any legal text: letters, digits, punctuation, symbols and spaces from the whole of Unicode.
legal_text = st.text(
    alphabet=st.characters(
        whitelist_categories=("L", "M", "N", "P", "S", "Zs"),
        blacklist_characters="\ufffe\uffff",
    ),
    min_size=1,
    max_size=400,
)


@given(gsm_text)
def test_gsm_text_always_yields_gsm7(body: str) -> None:
    result = segment(body, max_parts=100)
    assert result.encoding == "GSM-7"


@given(st.one_of(gsm_text, legal_text))
def test_units_equal_the_sum_of_per_character_costs(body: str) -> None:
    result = segment(body, max_parts=100)
    assert result.units == sum(_cost(ch, result.encoding) for ch in body)
    if result.encoding == "UCS-2":
        assert result.units == len(body.encode("utf-16-le")) // 2


@given(st.one_of(gsm_text, legal_text), st.one_of(gsm_text, legal_text))
def test_appending_text_never_lowers_the_part_count(body: str, more: str) -> None:
    # Holds across a GSM-7 → UCS-2 switch too: a UCS-2 part holds fewer characters.
    assert segment(body + more, max_parts=1000).segments >= segment(body, max_parts=1000).segments


@given(st.one_of(gsm_text, legal_text))
def test_parts_are_enough_and_not_too_many(body: str) -> None:
    result = segment(body, max_parts=100)
    single, per_part = (160, 153) if result.encoding == "GSM-7" else (70, 67)
    if result.units <= single:
        assert result.segments == 1
    else:
        # Greedy packing wastes at most one unit a part on a pair it will not split.
        assert result.units <= result.segments * per_part
        assert result.segments <= -(-result.units // (per_part - 1))
