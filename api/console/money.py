"""Money as people read it, the balance chart and the CSV downloads of the console.

Amounts stay integers of minor units until the last step: ``Decimal(amount).scaleb(-2)``
is exact, and babel (CLDR) writes it in the account's locale — ``4 213,50 kr`` for a
Swedish account. An account has a currency and a time zone but no locale of its own, so
the locale is the currency's home one (``LOCALES``). The chart is an SVG drawn here, on
the server, from ledger entries: no script, no library in the browser.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from babel.numbers import format_currency, format_decimal

from smsledger.domain.money import CURRENCIES

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

LOCALES = {"SEK": "sv_SE", "NOK": "nb_NO", "DKK": "da_DK", "EUR": "fi_FI", "USD": "en_US"}
DEFAULT_LOCALE = "en_GB"


def locale_of(currency: str) -> str:
    return LOCALES.get(currency, DEFAULT_LOCALE)


def _major(amount: int, currency: str) -> Decimal:
    return Decimal(int(amount)).scaleb(-CURRENCIES.get(currency, 2))


@lru_cache(maxsize=65536)
def money(amount: int, currency: str) -> str:
    """``421350, "SEK"`` → ``4 213,50 kr`` (the locale's own spaces and signs). Cached:
    babel takes ~90 µs a call, and a page repeats prices and balances."""
    return str(format_currency(_major(amount, currency), currency, locale=locale_of(currency)))


def money_plain(amount: int, currency: str) -> str:
    """The number alone, in the locale, with exactly the currency's decimals."""
    digits = CURRENCIES.get(currency, 2)
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return str(format_decimal(_major(amount, currency), pattern, locale=locale_of(currency)))


# --- the balance chart ----------------------------------------------------------------

KIND_COLOURS = {
    "top_up": "#067647",
    "charge": "#1849a9",
    "refund": "#b54708",
    "fee": "#9e165f",
}
WIDTH, HEIGHT, LEFT, PAD = 720, 240, 96, 24


def balance_chart(entries: Sequence[dict[str, Any]], currency: str) -> str:
    """An SVG step line of ``balance_after``, one step per ledger entry in order (a
    batch's charges share an instant, so spacing by time would stack them), each entry
    a dot coloured by kind with a title a screen reader (and a hover) reads; the first
    and last entry's dates under the axis."""
    if not entries:
        return ""
    values = [int(e["balance_after"]) for e in entries]
    before = values[0] - int(entries[0]["amount"])
    low, high = min(before, *values), max(before, *values)
    margin = max((high - low) // 10, 1)
    low, high = low - margin, high + margin
    n = len(entries)

    def x(i: int) -> float:
        return LEFT + i / n * (WIDTH - LEFT - PAD)

    def y(v: int) -> float:
        return HEIGHT - 2 * PAD - (v - low) / (high - low) * (HEIGHT - 3 * PAD)

    path = [f"M{x(0):.1f},{y(before):.1f}"]
    for i, v in enumerate(values, start=1):
        path.append(f"H{x(i):.1f}V{y(v):.1f}")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-labelledby="chart-title" class="chart">',
        '<title id="chart-title">Balance after each ledger entry</title>',
    ]
    parts.extend(
        f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{WIDTH - PAD}" y2="{y(v):.1f}" '
        'stroke="#d0d5dd"/>'
        f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" font-size="12" text-anchor="end">'
        f"{_escape(money(v, currency))}</text>"
        for v in (high - margin, low + margin)
    )
    parts.append(f'<path fill="none" stroke="#1d2330" stroke-width="1.5" d="{"".join(path)}"/>')
    # One dot per entry up to 150 (each a title to format); beyond, the line says it.
    step = max(1, -(-n // 150))
    for i in range(0, n, step):
        e, v = entries[i], values[i]
        colour = KIND_COLOURS.get(e["kind"], "#475467")
        label = f"{e['kind']} {money(int(e['amount']), currency)} → {money(v, currency)}"
        parts.append(
            f'<circle cx="{x(i + 1):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}" '
            f'class="kind-{e["kind"]}"><title>{_escape(label)}</title></circle>'
        )
    first, last = entries[0]["at"].astimezone(UTC), entries[-1]["at"].astimezone(UTC)
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 6}" font-size="12">{first:%Y-%m-%d %H:%M} UTC</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="12" text-anchor="end">'
        f"{last:%Y-%m-%d %H:%M} UTC</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- CSV ------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text that starts like a formula gets a
    leading apostrophe (OWASP's advice); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(header: Sequence[str] | None, rows: Iterable[Sequence[object]]) -> str:
    """CSV lines (RFC 4180's CRLF), the header first unless ``None``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header is not None:
        writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()
