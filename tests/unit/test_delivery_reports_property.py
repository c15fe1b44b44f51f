"""Reports in any order, any number of times: the same end as in order, nothing lost.

For a message's set of distinct reports (info codes, at most one interpretable final
code, any number of codes outside the table), every permutation with duplicates gives
the final status and the charge/refund outcome of in-order delivery, and the history
holds every distinct report exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from smsledger.adapters.storage import memory_env
from smsledger.application.ledger import Ledger
from tests.support import FakeClock

INFO = [111, 112, 113, 114, 503]
FINALS = [201, 202, 410, 405, 500, 501, 502, 511, 512, 515, 516, 599]
ODD = [0, 42, 299, 777, 999, 1201, -3]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@st.composite
def report_sets(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Distinct (code, seconds after T0) pairs, as one carrier might send them."""
    codes = draw(st.lists(st.sampled_from(INFO), max_size=4))
    codes += draw(st.lists(st.sampled_from(FINALS), max_size=1))
    codes += draw(st.lists(st.sampled_from(ODD), max_size=2))
    times = draw(
        st.lists(st.integers(1, 10_000), min_size=len(codes), max_size=len(codes), unique=True)
    )
    pairs = sorted(zip(codes, times, strict=True), key=lambda p: p[1])
    return pairs or [(112, 1)]


def _run(
    pairs: list[tuple[int, int]], order: list[int], handed_off: bool, model: str
) -> dict[str, Any]:
    clock = FakeClock(T0)
    ledger = Ledger(memory_env(), clock=clock)
    try:
        account = ledger.open_account("P", payment_model=model).value
        if model == "balance":
            ledger.top_up(account.id, 10_000, "t")
        receipt = ledger.send_batch(
            account.id, sender="Acme", recipients=["+46701234567"], body="x"
        )
        mid = UUID(receipt.lines[0]["id"])
        if handed_off:
            ledger.start_sending([mid], clock())
            ledger.record_hand_offs({mid: "gw-1"}, {}, clock())
        for i in order:
            code, secs = pairs[i]
            clock.advance(seconds=1)
            report = {
                "message_id": str(mid),
                "status_code": code,
                "at": (T0 + timedelta(seconds=secs)).isoformat(),
            }
            [result] = ledger.record_delivery_reports([report]).value
            assert result["outcome"] in ("applied", "duplicate", "superseded")
        message = ledger.get_message(mid)
        stored: list[Any] = list(ledger.repository.event_store.get(mid))
        history = [
            (e.code, e.carrier_at)
            for e in stored
            if type(e).__name__ in ("ReportApplied", "ReportSuperseded")
        ]
        return {
            "status": message.status,
            "charged": message.charged_to,
            "refunded": message.refunded,
            "balance": ledger.get_account(account.id).balance,
            "history": history,
        }
    finally:
        ledger.close()


@settings(max_examples=120, deadline=None)
@given(
    pairs=report_sets(),
    data=st.data(),
    handed_off=st.booleans(),
    model=st.sampled_from(["balance", "post_invoice"]),
)
def test_any_order_and_repeats_end_as_in_order(
    pairs: list[tuple[int, int]], data: st.DataObject, handed_off: bool, model: str
) -> None:
    in_order = _run(pairs, list(range(len(pairs))), handed_off, model)
    # Any permutation, with any report repeated up to twice more.
    shuffled = data.draw(st.permutations(range(len(pairs))))
    repeats = data.draw(st.lists(st.sampled_from(range(len(pairs))), max_size=2 * len(pairs)))
    order = list(shuffled)
    for r in repeats:
        order.insert(data.draw(st.integers(0, len(order))), r)
    shuffled_run = _run(pairs, order, handed_off, model)

    for key in ("status", "charged", "refunded", "balance"):
        assert shuffled_run[key] == in_order[key], key
    # The history holds every distinct report exactly once, whatever the order.
    expected = sorted((c, T0 + timedelta(seconds=s)) for c, s in pairs)
    assert sorted(shuffled_run["history"]) == expected
    assert sorted(in_order["history"]) == expected
