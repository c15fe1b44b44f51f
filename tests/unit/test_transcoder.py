"""The event transcoder: what goes in comes back, and encoded states cost their size."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from smsledger.adapters.transcoder import OrjsonTranscoder

transcoder = OrjsonTranscoder()

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text())
states = st.recursive(
    st.one_of(scalars, st.uuids(), st.datetimes(timezones=st.just(UTC))),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), states, max_size=6))
def test_encoded_state_decodes_to_the_same_state(state: dict[str, object]) -> None:
    assert transcoder.decode(transcoder.encode(state)) == state


def test_encoded_state_holds_no_more_memory_than_its_bytes() -> None:
    # A 10,000-recipient batch keeps 20,000 encoded events alive until it is saved: a
    # spare write buffer behind each one was ~120 MiB of a send's peak memory.
    state = {
        "originator_id": uuid4(),
        "timestamp": datetime(2026, 11, 23, tzinfo=UTC),
        "recipient": "+46701234567",
        "price": 45,
    }
    size = len(transcoder.encode(state))
    tracemalloc.start()
    try:
        kept = [transcoder.encode(state) for _ in range(1_000)]
        traced, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept) == 1_000
    assert traced / 1_000 < size + 200  # the bytes object's header, the list slot


def test_equal_instants_keep_their_own_offsets() -> None:
    # Decoding reuses parsed values; two spellings of one instant must not merge.
    utc = datetime(2026, 11, 23, 12, tzinfo=UTC)
    stockholm = utc.astimezone(timezone(timedelta(hours=1)))
    state = {"a": [utc, stockholm], "b": {"c": stockholm, "d": (utc, "x")}}
    decoded = transcoder.decode(transcoder.encode(state))
    assert [d.utcoffset() for d in decoded["a"]] == [timedelta(0), timedelta(hours=1)]
    assert decoded["b"]["c"].utcoffset() == timedelta(hours=1)
    assert decoded["b"]["d"] == [utc, "x"]  # a tuple comes back as a list
