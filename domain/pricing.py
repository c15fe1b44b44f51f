"""Price per segment by destination country, kept as data (``prices.json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path


@dataclass(frozen=True)
class PriceList:
    currency: str
    default_unit_price: int
    by_country: Mapping[str, int]

    def unit_price(self, country: str) -> int:
        """Minor units per segment to ``country``; the default where it is not listed."""
        return self.by_country.get(country, self.default_unit_price)

    def price(self, country: str, segments: int) -> int:
        """Price of a message = segments × unit price."""
        return segments * self.unit_price(country)


def _positive_int(value: object, what: str) -> int:
    if type(value) is not int or value <= 0:
        msg = f"{what} must be a positive integer of minor units, got {value!r}"
        raise ValueError(msg)
    return value


def price_list_from_mapping(data: Mapping[str, object]) -> PriceList:
    currency = data.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        msg = f"price list currency must be an ISO 4217 code, got {currency!r}"
        raise ValueError(msg)
    by_country = data.get("by_country", {})
    if not isinstance(by_country, Mapping):
        msg = "by_country must be a mapping of country code to price"
        raise ValueError(msg)
    return PriceList(
        currency=currency,
        default_unit_price=_positive_int(data.get("default_unit_price"), "default_unit_price"),
        by_country={
            str(k).upper(): _positive_int(v, f"price for {k}") for k, v in by_country.items()
        },
    )


def load_price_list(path: str | None = None) -> PriceList:
    """The packaged price list, or one from ``path``."""
    text = Path(path).read_text() if path else (files("domain") / "prices.json").read_text()
    return price_list_from_mapping(json.loads(text))
