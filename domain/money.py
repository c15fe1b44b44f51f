"""Money: an integer of minor units (öre, cents) with its currency. Never a float."""

from __future__ import annotations

from dataclasses import dataclass

from smsledger.domain.errors import InvalidRequestError

CURRENCIES: dict[str, int] = {"SEK": 2, "EUR": 2, "NOK": 2, "DKK": 2, "USD": 2}
"""Supported ISO 4217 currencies and their number of minor-unit digits."""


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            msg = f"money is an integer of minor units, not {type(self.amount).__name__}"
            raise TypeError(msg)
        if self.currency not in CURRENCIES:
            msg = f"unsupported currency {self.currency!r}"
            raise InvalidRequestError(msg)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, times: int) -> Money:
        return Money(self.amount * times, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            msg = f"cannot mix {self.currency} and {other.currency}"
            raise ValueError(msg)

    def __str__(self) -> str:
        digits = CURRENCIES[self.currency]
        sign = "-" if self.amount < 0 else ""
        major, minor = divmod(abs(self.amount), 10**digits)
        return f"{sign}{major}.{minor:0{digits}d} {self.currency}"


def check_currency(currency: str) -> str:
    """Return the currency if supported, else raise ``InvalidRequestError``."""
    if currency not in CURRENCIES:
        msg = f"unsupported currency {currency!r}; supported: {', '.join(sorted(CURRENCIES))}"
        raise InvalidRequestError(msg)
    return currency
