"""The dispatcher and the carrier simulator, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from smsledger.adapters.simulator import (
    REFUSAL,
    CarrierSimulator,
    Faults,
    OutcomeMix,
    SimulatorConfig,
)
from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.application.ports import HandOffRefusedError, Outgoing, Refused
from smsledger.domain.errors import AlreadyHandedOffError
from smsledger.workers.dispatcher import Dispatcher
from tests.support import FakeClock

SE = [f"+4670123{i:04d}" for i in range(50)]
CLEAN = Faults(0, 0, 0, 0)


def only(outcome: str, faults: Faults = CLEAN) -> SimulatorConfig:
    weights = dict.fromkeys(OutcomeMix.__dataclass_fields__, 0.0)
    weights[outcome] = 1.0
    return SimulatorConfig(seed=3, mix=OutcomeMix(**weights), faults=faults)


class Rig:
    """A ledger, its queue, a simulator and a dispatcher on one database and clock."""

    def __init__(self, ledger: Ledger, database: Database, clock: FakeClock) -> None:
        self.ledger, self.clock = ledger, clock
        self.views = open_views(database)
        self.sim = CarrierSimulator(database, only("delivered"), views=self.views)
        self.dispatcher = Dispatcher(ledger, self.views, self.sim, clock=clock, batch_size=7)
        account = ledger.open_account("Acme").value
        ledger.top_up(account.id, 100_000, "t")
        self.account_id = account.id

    def use(self, config: SimulatorConfig) -> None:
        self.sim.config = config

    def send(self, n: int = 1, **kw: Any) -> list[UUID]:
        receipt = self.ledger.send_batch(
            self.account_id, sender="Acme", recipients=SE[:n], body="hi", **kw
        )
        return [UUID(line["id"]) for line in receipt.lines]

    def run(self, seconds: float = 0) -> None:
        if seconds:
            self.clock.advance(seconds=seconds)
        self.dispatcher.run_until_idle()

    def status(self, mid: UUID) -> int:
        return self.ledger.get_message(mid).status

    def queue(self) -> dict[UUID, str]:
        with self.views.reading() as cur:
            cur.execute("SELECT message_id, state FROM delivery_queue")
            return {UUID(str(r[0])): r[1] for r in cur.fetchall()}

    def types(self, mid: UUID) -> list[str]:
        return [type(e).__name__ for e in self.ledger.repository.event_store.get(mid)]


@pytest.fixture
def rig(ledger: Ledger, database: Database, clock: FakeClock) -> Iterator[Rig]:
    r = Rig(ledger, database, clock)
    yield r
    r.views.close()


def test_a_message_goes_from_funded_to_delivered(rig: Rig) -> None:
    # A funded message waits in the queue until the dispatcher runs.
    [mid] = rig.send()
    assert rig.status(mid) == 103
    rig.dispatcher.follow()
    assert rig.queue() == {mid: "funded"}
    # The dispatcher records 110, hands it over, records 111 with the gateway's reference.
    rig.run()
    message = rig.ledger.get_message(mid)
    assert message.status == 111
    assert message.gateway_ref == rig.sim.lookup(mid)
    assert message.gateway_ref is not None
    # The carrier's reports arrive as the clock moves: 112, 113, then 201.
    for _ in range(20):
        rig.run(seconds=1)
    assert rig.types(mid) == [
        "Accepted",
        "Funded",
        "Sending",
        "HandedOff",
        "ReportApplied",
        "ReportApplied",
        "ReportApplied",
    ]
    assert rig.status(mid) == 201
    # Final: it left the queue; it was submitted once.
    assert rig.queue() == {}
    assert rig.sim.submissions() == {mid: (1, 1)}


def test_a_refused_hand_off_is_511_and_refunded(rig: Rig) -> None:
    rig.use(only("gateway_failure"))
    balance = rig.ledger.get_account(rig.account_id).balance
    [mid] = rig.send()
    rig.run()
    message = rig.ledger.get_message(mid)
    assert (message.status, message.refunded, message.handed_off) == (511, True, False)
    assert rig.ledger.get_account(rig.account_id).balance == balance
    assert rig.queue() == {}
    # The gateway remembers its refusal: asked again, it says so and sends nothing.
    assert rig.sim.lookup(mid) == Refused(REFUSAL)
    assert rig.sim.submissions() == {mid: (1, 0)}


@pytest.mark.parametrize(
    ("outcome", "final", "refunded"),
    [
        ("unknown_subscriber", 501, False),
        ("no_sms_subscription", 410, True),
        ("carrier_rejection", 512, False),
        ("offline_then_delivered", 201, False),
    ],
)
def test_carrier_outcomes_end_in_their_status(
    rig: Rig, outcome: str, final: int, refunded: bool
) -> None:
    rig.use(only(outcome))
    [mid] = rig.send()
    for _ in range(30):
        rig.run(seconds=10)
    message = rig.ledger.get_message(mid)
    assert (message.status, message.refunded) == (final, refunded)


def test_offline_until_validity_ends_is_reported_expired(rig: Rig) -> None:
    rig.use(only("offline_then_expired"))
    [mid] = rig.send(validity_period=600)
    rig.run()
    rig.run(seconds=30)
    assert rig.status(mid) == 503
    rig.run(seconds=600)
    message = rig.ledger.get_message(mid)
    assert (message.status, message.refunded) == (202, False)  # expired after hand-off


def test_faulty_carrier_reports_change_nothing_they_should_not(rig: Rig) -> None:
    # Every fault at once: duplicates, swapped order, late reports, odd codes.
    rig.use(only("delivered", Faults(1, 1, 1, 1, corrected=1)))
    ids = rig.send(10)
    for _ in range(40):
        rig.run(seconds=1)
    assert {rig.status(m) for m in ids} == {201}
    assert rig.sim.pending_reports() == 0


def test_nothing_is_handed_off_before_send_at(rig: Rig) -> None:
    [mid] = rig.send(send_at=rig.clock.now + timedelta(minutes=10))
    rig.run()
    assert rig.status(mid) == 103
    rig.run(seconds=599)
    assert rig.status(mid) == 103
    rig.run(seconds=1)
    assert rig.status(mid) == 111


def test_nothing_is_handed_off_once_validity_has_ended(rig: Rig) -> None:
    [mid] = rig.send(validity_period=60)
    rig.run(seconds=60)  # exactly at expires_at: too late
    assert rig.status(mid) == 103
    assert rig.sim.submissions() == {}


def test_a_canceled_message_is_never_handed_off(rig: Rig) -> None:
    [mid] = rig.send(send_at=rig.clock.now + timedelta(minutes=10))
    rig.dispatcher.follow()
    rig.ledger.cancel(mid)
    rig.run(seconds=600)
    assert rig.status(mid) == 203
    assert rig.sim.submissions() == {}
    assert rig.queue() == {}


def test_a_cancel_racing_the_dispatcher_wins_or_conflicts_never_both(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    [mid] = rig.send()
    rig.dispatcher.follow()
    real = rig.ledger.get_messages
    raced: list[bool] = []

    def stale_then_cancel(ids: Any) -> Any:
        # The dispatcher has loaded the message at 103; a user cancels it right then.
        loaded = real(ids)
        if not raced:
            raced.append(True)
            rig.ledger.cancel(mid)
        return loaded

    monkeypatch.setattr(rig.ledger, "get_messages", stale_then_cancel)
    rig.dispatcher.dispatch_once()
    monkeypatch.undo()
    # Saving 110 on the stale version conflicted; the retry found it canceled.
    assert rig.status(mid) == 203
    assert rig.sim.submissions() == {}
    assert "Sending" not in rig.types(mid)


def test_cancel_after_hand_off_is_a_conflict(rig: Rig) -> None:
    [mid] = rig.send()
    rig.run()
    with pytest.raises(AlreadyHandedOffError):
        rig.ledger.cancel(mid)
    assert rig.status(mid) == 111


def test_a_message_left_at_sending_and_already_submitted_is_not_sent_again(rig: Rig) -> None:
    # A dispatcher recorded 110, submitted, and died before recording 111.
    [mid] = rig.send()
    now = rig.clock.now
    [message], _ = rig.ledger.start_sending([mid], now).value
    ref = rig.sim.submit(Outgoing.of(message), now)
    # The next dispatcher finds it at 110, asks the gateway, and records 111 with its ref.
    rig.run()
    after = rig.ledger.get_message(mid)
    assert (after.status, after.gateway_ref) == (111, ref)
    assert rig.sim.submissions() == {mid: (1, 1)}


def test_a_message_left_at_sending_and_refused_is_not_submitted_again(rig: Rig) -> None:
    # A dispatcher recorded 110, was refused at submit, and died before recording 511.
    rig.use(only("gateway_failure"))
    balance = rig.ledger.get_account(rig.account_id).balance
    [mid] = rig.send()
    now = rig.clock.now
    [message], _ = rig.ledger.start_sending([mid], now).value
    with pytest.raises(HandOffRefusedError):
        rig.sim.submit(Outgoing.of(message), now)
    # The next dispatcher asks the gateway, learns the refusal, and records it: 511,
    # refunded, and the gateway was asked to send it only the once.
    rig.run()
    after = rig.ledger.get_message(mid)
    assert (after.status, after.refunded, after.handed_off) == (511, True, False)
    assert rig.ledger.get_account(rig.account_id).balance == balance
    assert rig.sim.submissions() == {mid: (1, 0)}
    assert rig.queue() == {}


def test_a_message_left_at_sending_and_never_submitted_is_submitted_once(rig: Rig) -> None:
    [mid] = rig.send()
    rig.ledger.start_sending([mid], rig.clock.now)
    rig.run()
    assert rig.status(mid) == 111
    assert rig.sim.submissions() == {mid: (1, 1)}


def test_submitting_twice_is_one_submission(rig: Rig) -> None:
    [mid] = rig.send()
    message = rig.ledger.get_message(mid)
    first = rig.sim.submit(Outgoing.of(message), rig.clock.now)
    second = rig.sim.submit(Outgoing.of(message), rig.clock.now)
    assert first == second
    assert rig.sim.submissions() == {mid: (2, 1)}
    with rig.views.reading() as cur:
        cur.execute("SELECT count(*) FROM sim_reports")
        assert cur.fetchone()[0] == 3


def test_the_queue_follows_the_log_in_batches(rig: Rig) -> None:
    ids = rig.send(20)  # batch_size 7: three hand-off batches
    rig.run()
    assert {rig.status(m) for m in ids} == {111}
    assert set(rig.queue()) == set(ids)
    assert set(rig.queue().values()) == {"handed_off"}
    # A rebuild of the queue from the log gives the same rows.
    before = rig.queue()
    rig.dispatcher.runner.rebuild("dispatcher")
    assert rig.queue() == before


def test_a_recipient_blocked_after_acceptance_is_405_at_hand_off_and_refunded(
    rig: Rig,
) -> None:
    # Scheduled for tomorrow, paid today; the number is blocked tonight.
    balance = rig.ledger.get_account(rig.account_id).balance
    blocked, other = rig.send(2, send_at=rig.clock.now + timedelta(days=1))
    assert rig.ledger.get_account(rig.account_id).balance == balance - 90
    rig.ledger.block_number(rig.account_id, SE[0], "stop")
    rig.run(seconds=86_400)
    # The dispatcher checked the block list again: 405, refunded, never sent.
    assert rig.status(blocked) == 405
    assert rig.types(blocked)[-2:] == ["Rejected", "Refunded"]
    assert rig.status(other) == 111
    assert rig.ledger.get_account(rig.account_id).balance == balance - 45
    assert rig.sim.lookup(blocked) is None
    assert blocked not in rig.queue()
