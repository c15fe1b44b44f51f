"""The price list: packaged data, per-country unit prices, and refusal of bad data."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from smsledger.domain.pricing import PriceList, load_price_list, price_list_from_mapping

if TYPE_CHECKING:
    from pathlib import Path

GOOD: dict[str, object] = {
    "currency": "SEK",
    "default_unit_price": 95,
    "by_country": {"SE": 45, "US": 80},
}


def test_packaged_price_list_loads_with_nordic_and_north_american_prices() -> None:
    prices = load_price_list()
    assert prices.currency == "SEK"
    assert prices.default_unit_price is not None
    assert prices.default_unit_price > 0
    for country in ("SE", "NO", "DK", "FI", "DE", "GB", "US", "CA"):
        assert country in prices.by_country
    assert all(type(p) is int and p > 0 for p in prices.by_country.values())


def test_listed_country_gets_its_own_unit_price() -> None:
    prices = price_list_from_mapping(GOOD)
    assert prices.unit_price("SE") == 45
    assert prices.unit_price("se") == 45


def test_unlisted_country_gets_the_default_unit_price() -> None:
    prices = price_list_from_mapping(GOOD)
    assert prices.unit_price("BR") == 95
    assert prices.unit_price("ZZ") == 95


@pytest.mark.parametrize("segments", [1, 2, 10])
def test_price_is_segments_times_unit_price(segments: int) -> None:
    prices = price_list_from_mapping(GOOD)
    assert prices.price("US", segments) == segments * 80
    assert prices.price("BR", segments) == segments * 95


@pytest.mark.parametrize("segments", [0, -1, True])
def test_price_of_no_segments_is_a_programming_error(segments: int) -> None:
    with pytest.raises(ValueError, match="segments"):
        price_list_from_mapping(GOOD).price("SE", segments)


def test_price_list_cannot_be_changed_after_loading() -> None:
    source = {"SE": 45}
    prices = PriceList("SEK", 95, source)
    source["SE"] = 1
    assert prices.unit_price("SE") == 45
    with pytest.raises(TypeError):
        prices.by_country["SE"] = 1  # type: ignore[index]


def test_price_list_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "eur.json"
    path.write_text(json.dumps({"currency": "EUR", "default_unit_price": 9, "by_country": {}}))
    prices = load_price_list(str(path))
    assert prices.currency == "EUR"
    assert prices.unit_price("SE") == 9


def test_file_that_is_not_json_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{currency: SEK")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_price_list(str(path))


def test_file_holding_a_list_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_price_list(str(path))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param({"default_unit_price": 0.95}, "default_unit_price", id="float-default"),
        pytest.param({"default_unit_price": True}, "default_unit_price", id="bool-default"),
        pytest.param({"default_unit_price": 0}, "default_unit_price", id="zero-default"),
        pytest.param({"default_unit_price": "95"}, "default_unit_price", id="string-default"),
        pytest.param({"by_country": {"SE": 45.5}}, "price for SE", id="float-country-price"),
        pytest.param({"by_country": {"SE": False}}, "price for SE", id="bool-country-price"),
        pytest.param({"by_country": {"SE": -45}}, "price for SE", id="negative-country-price"),
        pytest.param({"by_country": {"se": 45}}, "alpha-2", id="lower-case-country"),
        pytest.param({"by_country": {"SWE": 45}}, "alpha-2", id="alpha-3-country"),
        pytest.param({"by_country": [["SE", 45]]}, "by_country", id="by-country-not-object"),
        pytest.param({"currency": "kr"}, "ISO 4217", id="bad-currency"),
        pytest.param({"currency": 752}, "ISO 4217", id="numeric-currency"),
        pytest.param({"by_contry": {}}, "unknown price list keys: by_contry", id="typo-key"),
    ],
)
def test_bad_price_data_is_rejected(change: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        price_list_from_mapping({**GOOD, **change})


@pytest.mark.parametrize("key", ["currency", "default_unit_price", "by_country"])
def test_price_list_missing_a_key_is_rejected(key: str) -> None:
    data = {k: v for k, v in GOOD.items() if k != key}
    with pytest.raises(ValueError, match=f"missing: {key}"):
        price_list_from_mapping(data)
