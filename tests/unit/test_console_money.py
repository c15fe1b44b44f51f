"""The console's money text, CSV cells and chart: exact minor units, the locale's own
separators, nothing a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from smsledger.api.console.money import balance_chart, cell, csv_text, money, money_plain
from smsledger.domain.money import CURRENCIES

NBSP = "\u00a0"


def test_swedish_kronor_read_as_a_swede_writes_them() -> None:
    assert money(421_350, "SEK") == f"4{NBSP}213,50{NBSP}kr"
    assert money(-45, "SEK") == f"-0,45{NBSP}kr"
    assert money(123_456_789_00, "SEK") == f"123{NBSP}456{NBSP}789,00{NBSP}kr"
    assert money_plain(421_350, "SEK") == f"4{NBSP}213,50"
    assert money(421_350, "USD") == "$4,213.50"


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(sorted(CURRENCIES)))
def test_the_text_holds_exactly_the_minor_units(amount: int, currency: str) -> None:
    text = money(amount, currency)
    digits = int("".join(ch for ch in text if ch.isdigit()))
    assert digits == abs(amount)  # every öre, no rounding, no float
    assert ("-" in text or "\u2212" in text) == (amount < 0)


def test_text_that_starts_like_a_formula_is_defused_numbers_are_not() -> None:
    for evil in ("=HYPERLINK(1)", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert cell(evil) == "'" + evil
    assert cell("Acme AB") == "Acme AB"
    assert cell(-4500) == -4500  # a refund's amount stays a number
    rows = list(csv.reader(io.StringIO(csv_text(["a", "b"], [["=1+1", -5], ["ok, quoted", 7]]))))
    assert rows == [["a", "b"], ["'=1+1", "-5"], ["ok, quoted", "7"]]


def test_the_chart_marks_each_kind_and_escapes_its_titles() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    entries = [
        {"at": start, "kind": "top_up", "amount": 10_000, "balance_after": 10_000},
        {"at": start + timedelta(hours=1), "kind": "charge", "amount": -45, "balance_after": 9_955},
        {"at": start + timedelta(hours=2), "kind": "refund", "amount": 45, "balance_after": 10_000},
        {"at": start + timedelta(hours=3), "kind": "fee", "amount": -100, "balance_after": 9_900},
    ]
    svg = balance_chart(entries, "SEK")
    assert svg.startswith("<svg")
    for kind in ("top_up", "charge", "refund", "fee"):
        assert svg.count(f'class="kind-{kind}"') == 1
    assert f"charge -0,45{NBSP}kr → 99,55{NBSP}kr" in svg
    assert "<script" not in svg
    assert balance_chart([], "SEK") == ""
    many = [dict(entries[1], balance_after=9_955 - 45 * i) for i in range(1_000)]
    assert balance_chart(many, "SEK").count("<circle") <= 150
