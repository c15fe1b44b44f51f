"""Virtual numbers, inbound SMS and STOP on SQLite and on PostgreSQL: a STOP cancels and
refunds what is not yet handed off, the hand-off check catches what the read model had
not seen, the same SMS twice does nothing twice (even posted twice at once), and two
accounts never hold one number."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest

from smsledger.adapters.simulator import (
    CarrierSimulator,
    Faults,
    OutcomeMix,
    Replies,
    SimulatorConfig,
)
from smsledger.adapters.storage import Database
from smsledger.application.ledger import Ledger
from smsledger.domain.numbers import NumberTakenError
from smsledger.domain.status import CANCELED, FUNDED, RECIPIENT_REJECTED
from smsledger.projections.db import ViewDatabase
from smsledger.projections.queries import Queries, build_runner
from smsledger.workers.dispatcher import Dispatcher
from tests.support import FakeClock

T = TypeVar("T")
FAN = "+46731234567"
OTHER_FAN = "+46731234568"
TOMORROW = timedelta(days=1)


class Rig:
    """A ledger wired as ``serve`` wires it: read models, the pending-message finder, a
    dispatcher on the simulated carrier, one prepaid account with a virtual number."""

    def __init__(self, ledger: Ledger, database: Database, views: ViewDatabase, clock: FakeClock):
        self.ledger, self.clock, self.views = ledger, clock, views
        self.runner = build_runner(ledger, views)
        self.queries = Queries(ledger, views)
        ledger.pending_messages = self.queries.pending_messages
        weights = dict.fromkeys(OutcomeMix.__dataclass_fields__, 0.0)
        weights["delivered"] = 1.0
        config = SimulatorConfig(seed=3, mix=OutcomeMix(**weights), faults=Faults(0, 0, 0, 0))
        self.sim = CarrierSimulator(database, config, views=views)
        self.dispatcher = Dispatcher(ledger, views, self.sim, clock=clock)
        self.account = ledger.open_account("Acme").value.id
        ledger.top_up(self.account, 10_000, "t1")
        add_on, _ = ledger.order_add_on(self.account, "virtual_number", None).value
        assert add_on.number is not None
        self.number: str = add_on.number
        self.refs = 0

    def stop_service(self, on: bool) -> None:
        self.ledger.set_stop_service(self.account, sms_stop=on, unsubscribe_link=False)

    def send(self, recipient: str = FAN, send_at: datetime | None = None) -> UUID:
        receipt = self.ledger.send_batch(
            self.account, sender="Acme", recipients=[recipient], body="Sale!", send_at=send_at
        )
        return UUID(receipt.lines[0]["id"])

    def sms(
        self, body: str, sender: str = FAN, ref: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        if ref is None:
            self.refs += 1
            ref = f"gw-{self.refs}"
        return {
            "to": kw.get("to", self.number),
            "from": sender,
            "body": body,
            "at": kw.get("at", self.clock().isoformat()),
            "gateway_ref": ref,
        }

    def post(self, *items: Any) -> list[dict[str, Any]]:
        return self.ledger.receive_inbound(list(items)).value

    def balance(self) -> int:
        return self.ledger.get_account(self.account).balance


@pytest.fixture
def rig(ledger: Ledger, database: Database, views: ViewDatabase, clock: FakeClock) -> Rig:
    return Rig(ledger, database, views, clock)


def at_once(n: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(i)`` for ``i`` in ``range(n)`` in threads released together."""
    barrier = threading.Barrier(n)
    out: list[T | BaseException] = [RuntimeError("not run")] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = work(i)
        except BaseException as e:
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_stop_cancels_a_scheduled_message_and_refunds_it(rig: Rig) -> None:
    rig.stop_service(True)
    # A message scheduled for tomorrow, and one to someone else; the read model sees them.
    before = rig.balance()
    scheduled = rig.send(send_at=rig.clock() + TOMORROW)
    other = rig.send(OTHER_FAN, send_at=rig.clock() + TOMORROW)
    price = rig.ledger.get_message(scheduled).price
    assert price > 0
    assert rig.balance() == before - 2 * price
    rig.runner.run_once()
    # The fan texts STOP tonight.
    (result,) = rig.post(rig.sms("stop please"))
    assert result["outcome"] == "stored"
    assert result["action"] == "opt_out"
    # Canceled and refunded to the öre; the other recipient's message is untouched.
    message = rig.ledger.get_message(scheduled)
    assert message.status == CANCELED
    assert message.refunded
    assert rig.ledger.get_message(other).status == FUNDED
    assert rig.balance() == before - price
    account = rig.ledger.get_account(rig.account)
    assert account.blocked[FAN][0] == "stop"
    # The SMS records what it canceled, the block event which SMS asked for it.
    sms: Any = rig.ledger.repository.get(result["id"])
    assert sms.canceled == [scheduled.hex]
    blocked = [
        e
        for e in rig.ledger.repository.event_store.get(rig.account)
        if type(e).__name__ == "NumberBlocked"
    ]
    assert [getattr(e, "inbound_id", None) for e in blocked] == [str(result["id"])]
    # The read models: the SMS in the account's list, the number's history.
    rig.runner.run_once()
    items, _ = rig.queries.inbound_messages(rig.account)
    assert [(i["id"], i["from"], i["body"], i["action"]) for i in items] == [
        (result["id"], FAN, "stop please", "opt_out")
    ]
    history = rig.queries.number_history(FAN)
    (entry,) = history["accounts"]
    assert entry["account_id"] == rig.account
    assert entry["blocked"] is True
    assert [(e["change"], e["source"], e["inbound_id"]) for e in entry["events"]] == [
        ("blocked", "stop", result["id"])
    ]
    assert entry["events"][0]["inbound"]["body"] == "stop please"


def test_a_message_the_read_model_has_not_seen_is_405_at_hand_off_and_refunded(
    rig: Rig,
) -> None:
    rig.stop_service(True)
    before = rig.balance()
    # Accepted just before the STOP: the read model has not seen it yet.
    mid = rig.send()
    assert rig.balance() == before - rig.ledger.get_message(mid).price
    (result,) = rig.post(rig.sms("STOP"))
    assert result["action"] == "opt_out"
    assert rig.ledger.get_message(mid).status == FUNDED  # the STOP could not find it
    assert rig.ledger.repository.get(result["id"]).canceled == []
    # The dispatcher checks the block list again just before hand-off.
    rig.dispatcher.run_until_idle()
    message = rig.ledger.get_message(mid)
    assert message.status == RECIPIENT_REJECTED
    assert message.refunded
    assert rig.balance() == before
    assert rig.sim.lookup(mid) is None  # never handed to the carrier


def test_the_same_sms_twice_does_nothing_twice(rig: Rig) -> None:
    rig.stop_service(True)
    rig.send(send_at=rig.clock() + TOMORROW)
    rig.runner.run_once()
    stop = rig.sms("Stopp", ref="gw-same")
    first = rig.post(stop, stop)  # and again within the batch
    assert [r["outcome"] for r in first] == ["stored", "duplicate"]
    assert first[0]["id"] == first[1]["id"]
    balance = rig.balance()
    events = len(list(rig.ledger.repository.event_store.get(rig.account)))
    # Posted again later, after the fan was unblocked and a new message scheduled.
    rig.ledger.unblock_number(rig.account, FAN)
    later = rig.send(send_at=rig.clock() + TOMORROW)
    rig.runner.run_once()
    again = rig.post(stop)
    assert again == [{**first[0], "outcome": "duplicate"}]
    assert rig.ledger.get_message(later).status == FUNDED
    assert not rig.ledger.get_account(rig.account).is_blocked(FAN)
    # Only the unblock and the later send touched the account since.
    assert len(list(rig.ledger.repository.event_store.get(rig.account))) == events + 2
    assert rig.balance() == balance - rig.ledger.get_message(later).price


def test_two_concurrent_posts_of_one_gateway_ref_store_it_once(
    rig: Rig, database: Database, clock: FakeClock
) -> None:
    rig.stop_service(True)
    scheduled = rig.send(send_at=rig.clock() + TOMORROW)
    rig.runner.run_once()
    before = rig.balance()
    # Two processes' worth of ledgers, so neither sees the other's attempt in memory.
    other = Ledger(database.eventsourcing_env(), clock=clock)
    other.pending_messages = rig.queries.pending_messages
    try:
        ledgers = [rig.ledger, other]
        stop = rig.sms("STOP", ref="gw-race")
        outcomes = at_once(2, lambda i: ledgers[i].receive_inbound([stop]).value[0])
    finally:
        other.close()
    assert all(isinstance(o, dict) for o in outcomes), outcomes
    assert sorted(o["outcome"] for o in outcomes if isinstance(o, dict)) == [
        "duplicate",
        "stored",
    ]
    price = rig.ledger.get_message(scheduled).price
    assert rig.balance() == before + price  # refunded once
    refunds = [
        e
        for e in rig.ledger.repository.event_store.get(rig.account)
        if type(e).__name__ in ("Refunded", "NumberBlocked")
    ]
    assert sorted(type(e).__name__ for e in refunds) == ["NumberBlocked", "Refunded"]


def test_an_sms_to_a_number_nobody_holds_is_unknown_number(rig: Rig) -> None:
    results = rig.post(
        rig.sms("hello", to="+46701740698" if rig.number != "+46701740698" else "+46701740697"),
        rig.sms("hello", at=(rig.clock() - timedelta(days=1)).isoformat()),  # before the order
    )
    assert [r["outcome"] for r in results] == ["unknown_number", "unknown_number"]
    assert all(r["id"] is None for r in results)


def test_with_sms_stop_off_a_stop_is_stored_and_nothing_else(rig: Rig) -> None:
    mid = rig.send(send_at=rig.clock() + TOMORROW)
    rig.runner.run_once()
    before = rig.balance()
    (result,) = rig.post(rig.sms("STOP"))
    assert (result["outcome"], result["action"]) == ("stored", None)
    assert rig.ledger.get_message(mid).status == FUNDED
    assert not rig.ledger.get_account(rig.account).is_blocked(FAN)
    assert rig.balance() == before


def test_bad_sms_are_invalid_with_a_reason_and_never_stop_the_others(rig: Rig) -> None:
    good = rig.sms("hi\nthere")
    bad: list[Any] = [
        {**rig.sms("x"), "gateway_ref": ""},
        {**rig.sms("x"), "from": "12"},
        {**rig.sms("x"), "to": None},
        {**rig.sms("x"), "body": "nul\x00"},
        {**rig.sms("x"), "body": "x" * 1601},
        {**rig.sms("x"), "body": 5},
        {**rig.sms("x"), "at": "2026-01-01T00:00:00"},
        {**rig.sms("x"), "at": "3001-01-01T00:00:00+00:00"},
        "not an object",
    ]
    results = rig.post(*bad, good)
    assert [r["outcome"] for r in results] == ["invalid"] * len(bad) + ["stored"]
    assert all(r["reason"] for r in results[:-1])
    assert "U+0000" in results[3]["reason"]
    rig.runner.run_once()
    items, _ = rig.queries.inbound_messages(rig.account)
    assert [i["body"] for i in items] == ["hi\nthere"]


def test_two_accounts_cannot_hold_one_number(ledger: Ledger, clock: FakeClock) -> None:
    accounts = [ledger.open_account(f"A{i}").value.id for i in range(2)]
    number = "+46701740650"
    # Both order the same number at once: one holds it, the other is told it is taken.
    outcomes = at_once(2, lambda i: ledger.order_add_on(accounts[i], "virtual_number", number))
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1, outcomes
    assert len(lost) == 1
    assert isinstance(lost[0], NumberTakenError)
    winner = won[0].value[0].account_id
    loser = next(a for a in accounts if a != winner)
    claim = ledger.get_claim(number)
    assert claim is not None
    assert claim.holder_at(clock()) == winner
    # The loser wrote nothing: no add-on, nothing attached to its account.
    assert ledger.get_account(loser).add_ons == {}
    # Ordered without a number, the loser gets another one of the range.
    add_on, _ = ledger.order_add_on(loser, "virtual_number", None).value
    assert add_on.number not in (None, number)


def test_a_released_number_can_be_claimed_again_and_routes_by_the_sms_time(
    ledger: Ledger, clock: FakeClock
) -> None:
    clock.set(datetime(2027, 1, 10, 9, 0, tzinfo=UTC))
    first = ledger.open_account("First").value.id
    second = ledger.open_account("Second").value.id
    number = "+46701740660"
    add_on, _ = ledger.order_add_on(first, "virtual_number", number).value
    ledger.give_add_on_notice(add_on.id)
    # Held until the add-on ends (midnight in Stockholm of its end day): taken until then.
    assert add_on.ends_on is None
    ends = ledger.get_add_on(add_on.id).ends_on
    assert ends == "2028-01-10"
    with pytest.raises(NumberTakenError):
        ledger.order_add_on(second, "virtual_number", number)
    clock.set(datetime(2028, 1, 10, 0, 0, tzinfo=UTC))  # 01:00 in Stockholm: ended
    taken, _ = ledger.order_add_on(second, "virtual_number", number).value
    assert taken.number == number
    # An SMS is routed by its own time: before the end to the first, after to the second.
    early = {
        "to": number,
        "from": FAN,
        "body": "old",
        "gateway_ref": "a",
        "at": "2027-06-01T12:00:00+02:00",
    }
    late = {**early, "body": "new", "gateway_ref": "b", "at": "2028-01-10T00:30:00Z"}
    results = ledger.receive_inbound([early, late]).value
    assert [ledger.repository.get(r["id"]).account_id for r in results] == [first, second]


def test_a_batch_of_a_thousand_is_one_transaction(rig: Rig) -> None:
    items = [rig.sms(f"hello {i}", sender=f"+4673{i:07d}") for i in range(1000)]
    written = rig.ledger.receive_inbound(items)
    assert [r["outcome"] for r in written.value] == ["stored"] * 1000
    positions = [n.id for n in rig.ledger.recorder.select_notifications(start=1, limit=100_000)]
    # Every event of the batch is in one contiguous run ending at the answer's position.
    assert written.position == positions[-1]
    assert positions[-1000:] == list(range(positions[-1] - 999, positions[-1] + 1))


def test_the_simulators_recipients_text_stop_through_the_same_ingest(rig: Rig) -> None:
    # Every delivered recipient replies STOP (the default is 1%); seeded, so the same
    # every run.
    weights = dict.fromkeys(OutcomeMix.__dataclass_fields__, 0.0)
    weights["delivered"] = 1.0
    rig.sim.config = SimulatorConfig(
        seed=5,
        mix=OutcomeMix(**weights),
        faults=Faults(0, 0, 0, 0),
        replies=Replies(stop=1.0, save=0.0),
    )
    rig.stop_service(True)
    first = rig.send()
    # A second account without a virtual number: its recipient's reply goes nowhere.
    other = rig.ledger.open_account("No number").value.id
    rig.ledger.top_up(other, 1_000, "t")
    rig.ledger.send_batch(other, sender="Other", recipients=[OTHER_FAN], body="Hi")
    rig.dispatcher.run_until_idle()
    rig.clock.advance(minutes=5)  # delivered, and the reply arrives
    rig.dispatcher.run_until_idle()
    assert rig.ledger.get_message(first).status == 201
    account = rig.ledger.get_account(rig.account)
    assert account.blocked[FAN][0] == "stop"
    assert not rig.ledger.get_account(other).blocked
    rig.runner.run_once()
    items, _ = rig.queries.inbound_messages(rig.account)
    assert [(i["from"], i["to"], i["body"], i["action"]) for i in items] == [
        (FAN, rig.number, "STOP", "opt_out")
    ]
    assert rig.queries.inbound_messages(other)[0] == []
    # Pumping again hands nothing out twice.
    assert rig.dispatcher.pump_inbound() == 0
