"""Rebuild equals incremental: random ledgers projected in random pages, with restarts
in between, give exactly the rows one rebuild from zero gives."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsledger.application.ledger import Ledger
from smsledger.domain.contacts import contact_id_for
from smsledger.domain.errors import ConflictError, ContactNotFoundError
from smsledger.domain.unsubscribe import token_of
from smsledger.projections.db import ViewDatabase
from smsledger.projections.queries import Queries, build_runner
from tests.support import FakeClock, ReadSide
from tests.support import dump_views as dump

NUMBERS = ["+46731234567", "+46731234568", "+4791234567", "+447911123456", "12"]


def deliver(ledger: Ledger, message_id: UUID, code: int) -> None:
    m = ledger.get_message(message_id)
    if m.status != 103:
        return
    now = ledger.now()
    m.start_sending(now)
    m.hand_off("gw", now)
    m.record_report(code, now, None, now)
    ledger.save(m, *ledger._refund_if_due([m], now))


GROUPS = ["friends", "Friends", "work", "VIP"]


def contact_step(data: st.DataObject, ledger: Ledger, account: UUID) -> None:
    """Save (by SMS, by hand or by import), regroup or delete a contact."""
    number = data.draw(st.sampled_from(NUMBERS[:4]))
    what = data.draw(st.sampled_from(["save", "save", "regroup", "delete"]))
    if what == "save":
        ledger.save_contact(
            account,
            number,
            first_name=data.draw(st.sampled_from(["Ann", "Bo", None])),
            last_name="Lind",
            groups=data.draw(st.lists(st.sampled_from(GROUPS), max_size=2)),
            source=data.draw(st.sampled_from(["manual", "inbound_save", "import"])),
        )
        return
    contact = contact_id_for(account, number)
    with contextlib.suppress(ContactNotFoundError):
        if what == "delete":
            ledger.delete_contact(account, contact)
        else:
            groups = data.draw(st.lists(st.sampled_from(GROUPS), max_size=3))
            ledger.change_contact(account, contact, groups=groups)


def step(data: st.DataObject, ledger: Ledger, clock: FakeClock, state: dict[str, Any]) -> None:
    action = data.draw(
        st.sampled_from(
            [
                "top_up",
                "send",
                "send",
                "cancel",
                "deliver",
                "model",
                "time",
                "issue",
                "inbound",
                "block",
                "unblock",
                "contact",
                "unsubscribe",
            ]
        )
    )
    account = data.draw(st.sampled_from(state["accounts"]))
    if action == "top_up":
        try:
            state["top_ups"] += 1
            ledger.top_up(account, data.draw(st.integers(1, 300)), f"r{state['top_ups']}")
        except ConflictError:
            pass  # a post-invoiced account has no top-up
    elif action == "send":
        recipients = data.draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=6))
        receipt = ledger.send_batch(account, sender="Acme", recipients=recipients, body="hi")
        state["sent"].extend(UUID(line["id"]) for line in receipt.lines)
    elif action in ("cancel", "deliver") and state["sent"]:
        mid = data.draw(st.sampled_from(state["sent"]))
        if action == "cancel":
            with contextlib.suppress(ConflictError):
                ledger.cancel(mid)
        else:
            deliver(ledger, mid, data.draw(st.sampled_from([201, 501, 511, 599])))
    elif action == "model":
        ledger.change_payment_model(
            account, data.draw(st.sampled_from(["balance", "post_invoice"]))
        )
    elif action == "inbound":
        # A text to the subscription account's virtual number: a STOP (sms_stop is on) or
        # a plain one; a gateway_ref from a small set, so some are duplicates.
        body = data.draw(st.sampled_from(["STOP", "stopp now", "hello", "Save A B C"]))
        sms = {
            "to": state["number"],
            "from": data.draw(st.sampled_from(NUMBERS[:4])),
            "body": body,
            "at": clock().isoformat(),
            "gateway_ref": f"gw-{data.draw(st.integers(0, 6))}",
        }
        ledger.receive_inbound([sms])
    elif action in ("block", "unblock"):
        number = data.draw(st.sampled_from(NUMBERS[:4]))
        if action == "block":
            ledger.block_number(account, number)
        else:
            ledger.unblock_number(account, number)
    elif action == "unsubscribe" and state["sent"]:
        # The recipient of a linked message (the subscription account's) follows it.
        token = token_of(ledger.get_message(data.draw(st.sampled_from(state["sent"]))))
        if token is not None:
            ledger.unsubscribe(token)
    elif action == "time":
        clock.advance(hours=data.draw(st.integers(1, 24 * 20)))
    elif action == "contact":
        contact_step(data, ledger, account)
    elif action == "issue":
        local = clock.now
        period = f"{local.year - (local.month == 1):04d}-{(local.month - 2) % 12 + 1:02d}"
        ledger.issue_invoice(account, period)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_rebuild_equals_incremental(
    data: st.DataObject, ledger: Ledger, views: ViewDatabase, clock: FakeClock
) -> None:
    state: dict[str, Any] = {
        "accounts": [
            ledger.open_account("Prepaid").value.id,
            ledger.open_account("Post", payment_model="post_invoice").value.id,
        ],
        "sent": [],
        "top_ups": 0,
    }
    ledger.pending_messages = Queries(ledger, views).pending_messages  # as serve wires it
    post = state["accounts"][1]
    state["number"] = ledger.order_add_on(post, "virtual_number", None).value[0].number
    ledger.set_stop_service(post, sms_stop=True, unsubscribe_link=True)
    for _ in range(data.draw(st.integers(5, 30))):
        step(data, ledger, clock, state)
        if data.draw(st.booleans()):
            # A "restart": a new runner with another page size, for a few pages only.
            runner = build_runner(ledger, views, page_size=data.draw(st.integers(1, 40)))
            runner.run_once(max_pages=data.draw(st.integers(1, 5)))
    build_runner(ledger, views, page_size=data.draw(st.integers(1, 40))).run_once()
    incremental = dump(views)
    # Each group's count is its members, however the pages were cut.
    for group in incremental["view_groups"]:
        members = [m for m in incremental["view_group_members"] if m[0] == group[0]]
        assert group[4] == len(members)

    runner = build_runner(ledger, views, page_size=1000)
    for projection in runner.projections:
        runner.rebuild(projection.name)
    assert dump(views) == incremental
    # And the three sources agree in every month the run touched.
    periods = {r[3] for r in incremental["view_ledger_entries"]} | {
        r[1] for r in incremental["view_invoices"]
    }
    queries = ReadSide(ledger, views, runner)
    for period in periods:
        assert queries.reconciliation(period)["ok"], period
