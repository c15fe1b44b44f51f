"""The domain's own checks on text and time: whatever the HTTP layer let through, no
control character, lone surrogate or out-of-range time reaches an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsledger.domain.errors import InvalidRequestError
from smsledger.domain.reports import parse_report
from smsledger.domain.sending import check_send_request
from smsledger.domain.text import check_line, check_lines, illegal_character
from smsledger.domain.times import EARLIEST, LATEST, check_time, in_window, utc_text

if TYPE_CHECKING:
    from smsledger.application.ledger import Ledger

BAD = [
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ud800",
    "\udfff",
    "\ufffe",
    "\U0010ffff",
]
GOOD = ["Acme AB", "Café", "\u05d0\u05d1\u200f", "😀", "👩\u200d💻", "\u202eevil", " "]


@pytest.mark.parametrize("ch", BAD)
def test_control_characters_surrogates_and_noncharacters_are_illegal(ch: str) -> None:
    assert illegal_character(f"ab{ch}cd") == ch
    with pytest.raises(InvalidRequestError, match=f"U\\+{ord(ch):04X}"):
        check_line(f"ab{ch}cd", "name", max_length=20)


@pytest.mark.parametrize("text", GOOD)
def test_letters_marks_emoji_and_format_characters_are_text(text: str) -> None:
    assert illegal_character(text) is None
    assert check_line(text, "name", max_length=20) == text


@given(st.lists(st.text(max_size=12), max_size=20))
def test_checking_many_lines_at_once_agrees_with_one_by_one(values: list[str]) -> None:
    one_by_one = next((i for i, v in enumerate(values) if illegal_character(v)), None)
    if one_by_one is None:
        check_lines(values, "recipient", min_length=0, max_length=12)
    else:
        with pytest.raises(InvalidRequestError, match=f"recipient {one_by_one} holds"):
            check_lines(values, "recipient", min_length=0, max_length=12)


def test_a_line_is_a_string_within_its_length() -> None:
    for value in (5, None, b"abc", "", "x" * 21):
        with pytest.raises(InvalidRequestError):
            check_line(value, "reference", max_length=20)


def test_the_time_window_is_1970_to_2999_utc() -> None:
    assert in_window(EARLIEST) == EARLIEST
    assert in_window(LATEST) == LATEST
    assert in_window(EARLIEST - timedelta(microseconds=1)) is None
    assert in_window(LATEST + timedelta(microseconds=1)) is None
    assert in_window(datetime(2026, 11, 2, 9, 0)) is None  # naive
    # Year 1 and 9999 at the far offsets overflow when converted: out, not an error.
    assert in_window(datetime.fromisoformat("0001-01-01T00:00:00+14:00")) is None
    assert in_window(datetime.fromisoformat("9999-12-31T23:59:59-14:00")) is None
    plus_one = datetime(2026, 11, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert in_window(plus_one) == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with pytest.raises(InvalidRequestError, match="send_at"):
        check_time(datetime(1969, 12, 31, tzinfo=UTC), "send_at")


def test_an_answer_writes_every_time_in_utc_with_z() -> None:
    plus_one = datetime(2026, 11, 2, 10, 0, 5, 120, tzinfo=timezone(timedelta(hours=1)))
    assert utc_text(plus_one) == "2026-11-02T09:00:05.000120Z"
    assert utc_text(datetime(2026, 11, 2, tzinfo=UTC)) == "2026-11-02T00:00:00Z"


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z"]
)
def test_a_report_time_outside_the_window_is_a_malformed_report(at: str) -> None:
    report = {"message_id": "00000000-0000-4000-8000-000000000000", "status_code": 201, "at": at}
    assert parse_report(report) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender", "Sec\x00Test"),
        ("recipients", ["+46731234567", "+4673\x00"]),
        ("recipients", ["\ud800"]),
        ("body", "hi \ud83d"),
        ("reference", "ref\x1b"),
        ("send_at", datetime(1969, 1, 1, tzinfo=UTC)),
        ("validity_period", True),
    ],
)
def test_a_send_request_with_a_control_character_or_lax_value_is_refused(
    field: str, value: object
) -> None:
    request: dict[str, object] = {
        "sender": "Acme",
        "recipients": ["+46731234567"],
        "body": "Hello",
        "validity_period": 600,
        "send_at": None,
        "reference": None,
        field: value,
    }
    with pytest.raises(InvalidRequestError):
        check_send_request(**request)  # type: ignore[arg-type]


def test_a_body_with_a_control_character_passes_the_request_check() -> None:
    # It is a message's own 408, decided per message, not a malformed request.
    check_send_request("Acme", ["+46731234567"], "Hi\x00", 600, None, None)


@pytest.mark.parametrize("bad", ["Acme\x00AB", "Acme\ud800", "A\u2028B"])
def test_no_use_case_stores_a_control_character(memory_ledger: Ledger, bad: str) -> None:
    account = memory_ledger.open_account("Acme").value
    with pytest.raises(InvalidRequestError):
        memory_ledger.open_account(bad)
    with pytest.raises(InvalidRequestError):
        memory_ledger.top_up(account.id, 100, bad)
    with pytest.raises(InvalidRequestError):
        memory_ledger.set_banned_keywords(account.id, ["casino", bad])
    with pytest.raises(InvalidRequestError):
        memory_ledger.send_batch(account.id, sender=bad, recipients=["+46731234567"], body="x")
    with pytest.raises(InvalidRequestError):
        memory_ledger.send_batch(account.id, sender="Acme", recipients=[bad], body="x")
    with pytest.raises(InvalidRequestError):
        memory_ledger.send_batch(
            account.id, sender="Acme", recipients=["+46731234567"], body="x", reference=bad
        )
    with pytest.raises(InvalidRequestError):
        account.block_number(bad, "manual", datetime(2026, 11, 2, tzinfo=UTC))
    assert memory_ledger.get_account(account.id).version == account.version
