"""Price per SMS segment by destination country.

Prices are data (``prices.json``, shipped inside the package) so that finance can change
them without a code change; this module only loads and checks them. A price is an integer
of minor units (öre, cents) per segment, never a float, in the list's one currency.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType

_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_KEYS = frozenset({"currency", "default_unit_price", "by_country"})


def _positive_int(value: object, what: str) -> int:
    # bool is an int subclass and a float can carry a fraction of an öre: both are
    # refused, so a typo in the data cannot price a message at True or 0.45.
    if type(value) is not int or value <= 0:
        msg = f"{what} must be a positive integer of minor units, got {value!r}"
        raise ValueError(msg)
    return value


@dataclass(frozen=True)
class PriceList:
    """Unit prices (minor units per segment) by ISO 3166 alpha-2 country, with a default
    for the rest; with ``default_unit_price`` ``None`` only listed countries have a price,
    and a message to another one is 406 GenericRejected."""

    currency: str
    default_unit_price: int | None
    by_country: Mapping[str, int]

    def __post_init__(self) -> None:
        # Checked here too, not only on load, so no PriceList can exist with a bad price.
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            msg = f"currency must be an ISO 4217 code such as 'SEK', got {self.currency!r}"
            raise ValueError(msg)
        if self.default_unit_price is not None:
            _positive_int(self.default_unit_price, "default_unit_price")
        for country, price in self.by_country.items():
            if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
                msg = (
                    f"country {country!r} in by_country must be an upper-case "
                    "ISO 3166 alpha-2 code such as 'SE'"
                )
                raise ValueError(msg)
            _positive_int(price, f"price for {country}")
        # A read-only copy: the list is shared by every send, and a frozen dataclass
        # holding a live dict could still be changed under it.
        object.__setattr__(self, "by_country", MappingProxyType(dict(self.by_country)))

    def unit_price(self, country: str) -> int | None:
        """Minor units per segment to ``country``; the default where it is not listed
        (``None``: no price, the destination is not served)."""
        return self.by_country.get(country.upper(), self.default_unit_price)

    def price(self, country: str, segments: int) -> int:
        """Price of a message of ``segments`` parts to ``country``: segments × unit price."""
        if type(segments) is not int or segments < 1:
            msg = f"segments must be a positive integer, got {segments!r}"
            raise ValueError(msg)
        unit = self.unit_price(country)
        if unit is None:
            msg = f"no price for {country}"
            raise ValueError(msg)
        return segments * unit


def price_list_from_mapping(data: Mapping[str, object]) -> PriceList:
    """A checked ``PriceList`` from parsed JSON; ``ValueError`` saying what is wrong."""
    if not isinstance(data, Mapping):
        msg = f"a price list must be a JSON object, got {type(data).__name__}"
        raise ValueError(msg)
    # Unknown or missing keys are refused: a typo such as "by_contry" would otherwise
    # silently price every country at the default.
    unknown = set(data) - _KEYS
    if unknown:
        msg = f"unknown price list keys: {', '.join(sorted(unknown))}"
        raise ValueError(msg)
    missing = _KEYS - set(data)
    if missing:
        msg = f"price list is missing: {', '.join(sorted(missing))}"
        raise ValueError(msg)
    by_country = data["by_country"]
    if not isinstance(by_country, Mapping):
        msg = f"by_country must be an object of country code to price, got {by_country!r}"
        raise ValueError(msg)
    currency = data["currency"]
    default_unit_price = data["default_unit_price"]
    if not isinstance(currency, str):
        msg = f"currency must be an ISO 4217 code such as 'SEK', got {currency!r}"
        raise ValueError(msg)
    return PriceList(
        currency=currency,
        default_unit_price=(
            None
            if default_unit_price is None
            else _positive_int(default_unit_price, "default_unit_price")
        ),
        by_country=by_country,
    )


def load_price_list(path: str | None = None) -> PriceList:
    """The price list at ``path``, or the one packaged with the domain."""
    source = Path(path) if path is not None else files("smsledger.domain") / "prices.json"
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        msg = f"price list {source} is not valid JSON: {exc}"
        raise ValueError(msg) from exc
    if not isinstance(data, dict):
        msg = f"price list {source} must hold a JSON object, got {type(data).__name__}"
        raise ValueError(msg)
    return price_list_from_mapping(data)
