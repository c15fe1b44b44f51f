"""The runner's decoder (projections/decoding.py) gives exactly the mapper's events.

Random ledgers (the rebuild test's steps: sends, cancels, deliveries, top-ups, payment
model changes, invoices, inbound texts, blocks, contacts, unsubscribes) are read back
with the recorder's ``select_log`` and decoded by ``LogDecoder``; every event must be
of the mapper's class with the mapper's ``__dict__``, and the rows must be the
library's ``select_notifications``, field for field.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsledger.application.ledger import Ledger
from smsledger.projections import all_projections
from smsledger.projections.decoding import LogDecoder
from smsledger.projections.queries import Queries
from smsledger.projections.runner import ProjectionRunner
from tests.integration.test_views_rebuild import step
from tests.support import FakeClock

VIEW_TOPICS = {t for p in all_projections("sqlite") for t in p.topics}


def assert_decodes_as_the_mapper(ledger: Ledger) -> set[str]:
    """Every event of the log, both ways; returns the topics seen."""
    rows = ledger.recorder.select_log(0, 10**9)  # type: ignore[attr-defined]
    notifications = ledger.recorder.select_notifications(start=1, limit=10**9)
    assert [tuple(r) for r in rows] == [
        (n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notifications
    ]
    decoder = LogDecoder(ledger.mapper)
    for row, n in zip(rows, notifications, strict=True):
        ours, theirs = decoder.decode(row), ledger.mapper.to_domain_event(n)
        assert type(ours) is type(theirs), n.topic
        assert vars(ours) == vars(theirs), n.topic
        assert ours == theirs, n.topic
    # A page starts after a position, and stops at the limit.
    assert ledger.recorder.select_log(2, 3) == rows[2:5]  # type: ignore[attr-defined]
    return {n.topic for n in notifications}


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_log_decoder_equals_the_mapper(
    data: st.DataObject, ledger: Ledger, views: Any, clock: FakeClock
) -> None:
    state: dict[str, Any] = {
        "accounts": [
            ledger.open_account("Prepaid").value.id,
            ledger.open_account("Post", payment_model="post_invoice").value.id,
        ],
        "sent": [],
        "top_ups": 0,
    }
    ledger.pending_messages = Queries(ledger, views).pending_messages
    post = state["accounts"][1]
    state["number"] = ledger.order_add_on(post, "virtual_number", None).value[0].number
    ledger.set_stop_service(post, sms_stop=True, unsubscribe_link=True)
    for _ in range(data.draw(st.integers(5, 30))):
        step(data, ledger, clock, state)
    assert_decodes_as_the_mapper(ledger)


def test_log_decoder_covers_the_view_topics_of_a_full_day(ledger: Ledger, clock: FakeClock) -> None:
    """One scripted ledger with most of what the views read, decoded both ways."""
    prepaid = ledger.open_account("Prepaid").value.id
    post = ledger.open_account("Post", payment_model="post_invoice").value.id
    ledger.top_up(prepaid, 10_000, "shop-1")
    ledger.order_add_on(post, "virtual_number", None)
    sent = [
        UUID(line["id"])
        for account in (prepaid, post)
        for line in ledger.send_batch(
            account, sender="Acme", recipients=["+46731234567", "+4791234567"], body="hi"
        ).lines
    ]
    ledger.cancel(sent[0])
    for mid, code in zip(sent[1:], (201, 501, 599), strict=True):
        m = ledger.get_message(mid)
        now = ledger.now()
        m.start_sending(now)
        m.hand_off("gw", now)
        m.record_report(code, now, None, now)
        ledger.save(m, *ledger._refund_if_due([m], now))
    ledger.change_payment_model(prepaid, "post_invoice")
    ledger.block_number(post, "+46731234567")
    clock.advance(hours=24 * 40)
    local = clock.now
    ledger.issue_invoice(
        post, f"{local.year - (local.month == 1):04d}-{(local.month - 2) % 12 + 1:02d}"
    )
    seen = assert_decodes_as_the_mapper(ledger)
    expected = {
        "smsledger:Account.Opened",
        "smsledger:Account.ToppedUp",
        "smsledger:Account.BatchCharged",
        "smsledger:Account.PaymentModelChanged",
        "smsledger:Account.InvoiceIssued",
        "smsledger:Message.Accepted",
        "smsledger:Message.Funded",
        "smsledger:Message.Canceled",
        "smsledger:Message.Sending",
        "smsledger:Message.HandedOff",
        "smsledger:Message.ReportApplied",
    }
    assert expected <= seen & VIEW_TOPICS


def test_a_runner_on_the_decoder_and_on_the_mapper_build_the_same_views(
    ledger: Ledger, views: Any
) -> None:
    """The runner's fast path (``select_log`` + decoder) against the library's read and
    mapper, on the same log."""
    from tests.support import dump_views

    account = ledger.open_account("Prepaid").value.id
    ledger.top_up(account, 10_000, "shop-1")
    for _ in range(3):
        ledger.send_batch(
            account,
            sender="Acme",
            recipients=["+46731234567", "+46731234568", "+4791234567"],
            body="hi",
        )
    fast = ProjectionRunner(ledger, views, all_projections(views.dialect), page_size=4)
    assert fast._select_log is not None
    fast.run_once()
    ours = dump_views(views)
    slow = ProjectionRunner(ledger, views, all_projections(views.dialect), page_size=4)
    slow._select_log = None  # the library's select_notifications and mapper
    with views.transaction() as cur:
        for projection in slow.projections:
            projection.clear(cur)
        cur.execute("DELETE FROM projection_tracking")
    assert dump_views(views)["view_messages"] == []
    slow.run_once()
    assert dump_views(views) == ours
    assert len(ours["view_messages"]) == 9


def test_the_cycle_collector_is_off_while_a_page_decodes_and_as_it_was_after(
    ledger: Ledger, views: Any
) -> None:
    import gc

    account = ledger.open_account("Prepaid").value.id
    ledger.top_up(account, 100, "shop-1")
    runner = ProjectionRunner(ledger, views, all_projections(views.dialect))
    decode, during = runner._decoder.decode, list[bool]()

    def spied(row: Any) -> Any:
        during.append(gc.isenabled())
        return decode(row)

    runner._decoder.decode = spied  # type: ignore[method-assign]
    assert gc.isenabled()
    runner.run_once()
    assert during == [False, False]
    assert gc.isenabled()
    # Off before (the application's choice): still off after.
    gc.disable()
    try:
        runner.rebuild("account_ledger")
        assert not gc.isenabled()
    finally:
        gc.enable()
