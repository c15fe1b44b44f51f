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
from decimal import Decimal
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


def money(amount: int, currency: str) -> str:
    """``421350, "SEK"`` → ``4 213,50 kr`` (the locale's own spaces and signs)."""
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
WIDTH, HEIGHT, PAD = 720, 220, 40


def balance_chart(entries: Sequence[dict[str, Any]], currency: str) -> str:
    """An SVG line of ``balance_after`` over the entries' times, each entry a dot
    coloured by kind, with a title a screen reader (and a hover) reads."""
    if not entries:
        return ""
    times = [float(e["at"].timestamp()) for e in entries]
    values = [int(e["balance_after"]) for e in entries]
    t0, t1 = min(times), max(times)
    v0, v1 = min(0, *values), max(0, *values)
    span_t = (t1 - t0) or 1.0
    span_v = (v1 - v0) or 1

    def x(t: float) -> float:
        return PAD + (t - t0) / span_t * (WIDTH - 2 * PAD)

    def y(v: int) -> float:
        return HEIGHT - PAD - (v - v0) / span_v * (HEIGHT - 2 * PAD)

    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values, strict=True))
    zero = y(0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-labelledby="chart-title" class="chart">',
        '<title id="chart-title">Balance over time</title>',
        f'<line x1="{PAD}" y1="{zero:.1f}" x2="{WIDTH - PAD}" y2="{zero:.1f}" '
        'stroke="#98a2b3" stroke-dasharray="4 4"/>',
        f'<text x="4" y="{y(v1) + 4:.1f}" font-size="11">{_escape(money(v1, currency))}</text>',
        f'<text x="4" y="{y(v0) + 4:.1f}" font-size="11">{_escape(money(v0, currency))}</text>',
        f'<polyline fill="none" stroke="#1d2330" stroke-width="1.5" points="{points}"/>',
    ]
    # One dot per entry up to a few hundred; beyond that the line alone says it.
    step = max(1, len(entries) // 300)
    for e, t, v in list(zip(entries, times, values, strict=True))[::step]:
        colour = KIND_COLOURS.get(e["kind"], "#475467")
        label = f"{e['kind']} {money(int(e['amount']), currency)} → {money(v, currency)}"
        parts.append(
            f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}" '
            f'class="kind-{e["kind"]}"><title>{_escape(label)}</title></circle>'
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


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()
