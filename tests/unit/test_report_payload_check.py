"""The raw-payload check of ``parse_report`` (``domain.reports._is_json``): its inlined
path for a plain ``dict`` gives the answers of the general rules, kept here as they were
before that path, on payloads built to reach every rule (depth, integer range, floats
that are not finite, lone surrogates, the transcoder's tag key, keys that are not
strings, subclasses, tuples)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from smsledger.domain.reports import _aware, _is_json, parse_report


def _reference(value: object, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, str):
        return _ref_utf8(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_reference(v, depth + 1) for v in value)
    if isinstance(value, dict):
        if "_type_" in value:
            return False
        return all(
            type(k) is str and _ref_utf8(k) and _reference(v, depth + 1) for k, v in value.items()
        )
    return False


def _ref_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class Text(str):
    pass


class Mapping(dict):  # type: ignore[type-arg]
    pass


_texts = st.one_of(
    st.sampled_from(["", "_type_", "stat", "ö", "\ud800", "a\udfffb", "\x00"]),
    st.text(max_size=4),
    st.builds(Text, st.text(max_size=3)),
)
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    _texts,
    st.just((1, 2)),
    st.just(b"x"),
)
_keys = st.one_of(_texts, st.integers(0, 3), st.none())


def _nest(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(_keys, children, max_size=3),
        st.dictionaries(_keys, children, max_size=2).map(Mapping),
    )


_payloads = st.recursive(_leaves, _nest, max_leaves=12)


def _deep(levels: int, leaf: object, *, inner_object: bool) -> object:
    value: object = leaf
    for i in range(levels):
        value = {"k": value} if (i % 2 == 0) is inner_object else [value]
    return value


@settings(max_examples=600)
@given(_payloads)
def test_the_payload_check_answers_as_the_general_rules(value: object) -> None:
    assert _is_json(value) is _reference(value)


@given(st.integers(15, 25), _leaves)
def test_the_depth_limit_holds_for_objects_and_their_leaves(levels: int, leaf: object) -> None:
    for inner_object in (True, False):
        value = _deep(levels, leaf, inner_object=inner_object)
        assert _is_json(value) is _reference(value)


def test_the_limit_is_twenty_levels_below_the_payload() -> None:
    assert _is_json(_deep(20, 1, inner_object=True))
    assert not _is_json(_deep(21, 1, inner_object=True))
    assert not _is_json(_deep(21, 1, inner_object=False))


def test_keys_and_values_of_a_plain_object_are_checked() -> None:
    for bad in ({"\ud800": 1}, {"a": "\udfff"}, {"a": 2**63}, {"a": -(2**63) - 1}, {"a": (1,)}):
        assert not _is_json(bad), bad
    for good in ({"ö": "ä"}, {"a": 2**63 - 1}, {"a": -(2**63)}, {"a": None, "b": True}, {}):
        assert _is_json(good), good


def test_a_report_time_is_the_same_parsed_once_or_again() -> None:
    at = "2026-11-02T10:00:00+01:00"
    first, second = _aware(at), _aware(at)
    assert first == datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert first is second
    assert _aware("2026-11-02T10:00:00") is None  # no offset
    assert _aware("not a time") is None
    assert _aware(Text(at)) == first  # a subclass, by the general path


def test_a_payload_that_is_not_json_still_makes_the_report_invalid() -> None:
    report = {"message_id": str(UUID_TEXT), "status_code": 201, "at": "2026-11-02T09:00:00Z"}
    assert parse_report({**report, "raw": {"stat": 201, "ref": "gw-1"}}) is not None
    for raw in ({"stat": float("nan")}, {"s": "\ud800"}, {"_type_": "x"}, {1: 2}, {"n": 2**63}):
        assert parse_report({**report, "raw": raw}) is None, raw


UUID_TEXT = "6f1c1f4e-8c1a-4a53-9d52-0d6e3b1d7a01"
