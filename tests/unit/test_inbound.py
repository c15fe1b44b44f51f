"""What an inbound body asks for, what makes an inbound SMS well formed, and who holds a
virtual number when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsledger.domain.inbound import (
    MAX_INBOUND_BODY,
    IncomingSms,
    OptOut,
    SaveContact,
    classify,
    inbound_id_for,
    parse_inbound,
)
from smsledger.domain.numbers import NumberClaim, NumberRange, NumberTakenError, claim_id_for

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
# A word: no whitespace (what ``str.split`` splits on), at least one character.
WORD = st.text(
    st.characters(exclude_categories=["Cs"]).filter(lambda c: not c.isspace() and c != "\x1c"),
    min_size=1,
    max_size=12,
).filter(lambda w: len(w.split()) == 1)
SPACE = st.text(st.sampled_from(" \t\n\u00a0\u2003"), min_size=1, max_size=3)


def spaced(words: list[str], gaps: list[str]) -> str:
    out = gaps[0] if gaps else ""
    for i, w in enumerate(words):
        out += w + (gaps[i + 1] if i + 1 < len(gaps) else " ")
    return out


@given(
    stop=st.sampled_from(["stop", "stopp"]),
    case=st.lists(st.booleans(), min_size=5, max_size=5),
    punct=st.sampled_from(["", ".", "!", "!!", ","]),
    rest=st.lists(WORD, max_size=4),
    gaps=st.lists(SPACE, min_size=6, max_size=6),
)
def test_stop_or_stopp_first_in_any_case_is_an_opt_out(
    stop: str, case: list[bool], punct: str, rest: list[str], gaps: list[str]
) -> None:
    word = "".join(c.upper() if up else c for c, up in zip(stop, case, strict=False)) + punct
    assert classify(spaced([word, *rest], gaps)) == OptOut()


@given(words=st.lists(WORD, min_size=3, max_size=3), gaps=st.lists(SPACE, min_size=5, max_size=5))
def test_save_and_three_words_saves_those_words(words: list[str], gaps: list[str]) -> None:
    save = ["Save", "save", "SAVE", "sAvE"][len(words[0]) % 4]
    assert classify(spaced([save, *words], gaps)) == SaveContact(*words)


@given(words=st.lists(WORD, max_size=6))
def test_save_without_exactly_three_words_is_a_plain_message(words: list[str]) -> None:
    if len(words) == 3:
        words = [*words, "more"]
    assert classify(" ".join(["Save", *words])) is None


@given(body=st.text(max_size=40))
def test_anything_else_asks_for_nothing(body: str) -> None:
    words = body.split()
    first = words[0].rstrip(".,;:!?").casefold() if words else ""
    if first in ("stop", "stopp") or (words and words[0].casefold() == "save"):
        return
    assert classify(body) is None


def test_stop_in_the_middle_or_glued_to_a_word_is_not_an_opt_out() -> None:
    assert classify("please stop") is None
    assert classify("stopping") is None
    assert classify("") is None
    assert classify("Save Anna Berg Friends") == SaveContact("Anna", "Berg", "Friends")


def sms(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "to": "46701740605",
        "from": "+46 73-123 45 67",
        "body": "STOP",
        "at": "2027-01-10T10:00:00+01:00",
        "gateway_ref": "gw-1",
    }
    return {**base, **changes}


def test_a_well_formed_sms_is_normalised() -> None:
    parsed = parse_inbound(sms())
    assert parsed == IncomingSms("+46701740605", "+46731234567", "STOP", T0, "gw-1")
    assert isinstance(parsed, IncomingSms)
    assert parsed.id == inbound_id_for("gw-1") != inbound_id_for("gw-2")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"gateway_ref": None}, "gateway_ref"),
        ({"gateway_ref": "x" * 201}, "gateway_ref"),
        ({"gateway_ref": "a\nb"}, "U+000A"),
        ({"to": "12"}, "to:"),
        ({"from": 46731234567}, "from:"),
        ({"body": None}, "body"),
        ({"body": "x" * (MAX_INBOUND_BODY + 1)}, "body"),
        ({"body": "a\x07b"}, "U+0007"),
        ({"body": "a\ud800"}, "U+D800"),
        ({"at": "2027-01-10T10:00:00"}, "at"),
        ({"at": 1_700_000_000}, "at"),
        ({"at": "1969-12-31T23:59:59Z"}, "at"),
        ({"at": True}, "at"),
    ],
)
def test_a_malformed_sms_has_a_reason(change: dict[str, object], reason: str) -> None:
    parsed = parse_inbound(sms(**change))
    assert isinstance(parsed, str)
    assert reason in parsed


def test_line_breaks_are_text_in_a_body() -> None:
    parsed = parse_inbound(sms(body="Save Anna\r\nBerg Friends\f"))
    assert isinstance(parsed, IncomingSms)
    assert classify(parsed.body) == SaveContact("Anna", "Berg", "Friends")


def test_a_number_range_is_two_valid_ends_of_one_length() -> None:
    r = NumberRange.parse("+46701740605-+46701740699")
    assert r.size == 95
    hint = uuid4()
    numbers = list(r.candidates(hint))
    assert sorted(numbers) == [f"+467017406{n:02d}" for n in range(5, 100)]
    assert numbers == list(r.candidates(hint))  # the same order for the same account
    for bad in ("+46701740699-+46701740605", "+4670174-+46701740699", "nonsense", "12-13"):
        with pytest.raises(ValueError, match=r"range|MSISDN"):
            NumberRange.parse(bad)


def test_a_claim_holds_a_number_until_it_is_released() -> None:
    a, b, add_a, add_b = uuid4(), uuid4(), uuid4(), uuid4()
    claim = NumberClaim.first_claim("+46701740605", a, add_a, T0)
    assert claim.id == claim_id_for("+46701740605")
    assert claim.holder_at(T0) == a
    assert claim.holder_at(T0 - timedelta(seconds=1)) is None
    assert claim.claim(a, add_a, T0) is False  # the same order again
    with pytest.raises(NumberTakenError):
        claim.claim(b, add_b, T0 + timedelta(days=1))
    end = T0 + timedelta(days=365)
    assert claim.release(add_a, end, T0 + timedelta(days=2))
    assert not claim.release(add_a, end, T0 + timedelta(days=2))  # once
    with pytest.raises(NumberTakenError):  # still held until the end
        claim.claim(b, add_b, end - timedelta(seconds=1))
    assert claim.claim(b, add_b, end)
    assert claim.holder_at(end - timedelta(seconds=1)) == a
    assert claim.holder_at(end) == b
    assert not claim.release(add_a, end, end)  # not a's hold any more
