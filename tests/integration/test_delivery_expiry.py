"""Expiry, giving up, and cancel at exact times (time is passed in), on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest

from smsledger.adapters.simulator import CarrierSimulator, Faults, OutcomeMix, SimulatorConfig
from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.application.ports import HandOffRefusedError, Outgoing
from smsledger.domain.errors import AlreadyHandedOffError, ConflictError
from smsledger.workers.dispatcher import Dispatcher
from smsledger.workers.sweeper import Sweeper
from tests.support import FakeClock, url_of

SE = [f"+4670123{i:04d}" for i in range(10)]
US = timedelta(microseconds=1)
GRACE = timedelta(hours=1)
# A carrier that delivers; its reports are due after the times these tests sweep at,
# and the dispatcher only pumps what is due by the clock, which they do not advance.
CARRIER = SimulatorConfig(mix=OutcomeMix(1, 0, 0, 0, 0, 0, 0), faults=Faults(0, 0, 0, 0))


class Rig:
    def __init__(self, ledger: Ledger, database: Database, clock: FakeClock) -> None:
        self.ledger, self.clock, self.database = ledger, clock, database
        self.views = open_views(database)
        self.sim = CarrierSimulator(database, CARRIER, views=self.views)
        self.dispatcher = Dispatcher(ledger, self.views, self.sim, clock=clock)
        self.sweeper = Sweeper(ledger, self.views, self.sim, grace=GRACE, clock=clock)
        account = ledger.open_account("Acme").value
        ledger.top_up(account.id, 10_000, "t")
        self.account_id = account.id

    def send(self, validity: int = 600, **kw: object) -> UUID:
        receipt = self.ledger.send_batch(
            self.account_id,
            sender="Acme",
            recipients=SE[:1],
            body="hi",
            validity_period=validity,
            **kw,  # type: ignore[arg-type]
        )
        return UUID(receipt.lines[0]["id"])

    def balance(self) -> int:
        return self.ledger.get_account(self.account_id).balance


@pytest.fixture
def rig(ledger: Ledger, database: Database, clock: FakeClock) -> Iterator[Rig]:
    r = Rig(ledger, database, clock)
    yield r
    r.views.close()


def test_a_message_never_handed_off_expires_exactly_at_the_end_of_validity(
    rig: Rig, clock: FakeClock
) -> None:
    mid = rig.send(validity=600)  # no dispatcher runs: nothing hands it off
    expires_at = rig.ledger.get_message(mid).expires_at
    assert expires_at == clock.now + timedelta(seconds=600)
    charged = rig.balance()
    # A microsecond before the end: still Funded.
    result = rig.sweeper.sweep(expires_at - US)
    assert (result.expired, rig.ledger.get_message(mid).status) == ([], 103)
    # At the end: 202 Expired, and the price comes back.
    result = rig.sweeper.sweep(expires_at)
    message = rig.ledger.get_message(mid)
    assert result.expired == [mid]
    assert (message.status, message.refunded) == (202, True)
    assert rig.balance() == charged + 45
    assert result.position == rig.ledger.recorder.max_notification_id()
    # A second pass finds nothing to do.
    assert rig.sweeper.sweep(expires_at + GRACE * 2).expired == []


def test_validity_counts_from_send_at(rig: Rig, clock: FakeClock) -> None:
    send_at = clock.now + timedelta(hours=5)
    mid = rig.send(validity=600, send_at=send_at)
    assert rig.sweeper.sweep(send_at + timedelta(seconds=600) - US).expired == []
    assert rig.sweeper.sweep(send_at + timedelta(seconds=600)).expired == [mid]


def test_handed_off_without_a_final_report_becomes_599_after_the_grace(
    rig: Rig, clock: FakeClock
) -> None:
    mid = rig.send(validity=600)
    rig.dispatcher.run_until_idle()
    message = rig.ledger.get_message(mid)
    assert message.status == 111
    end = message.expires_at + GRACE
    charged = rig.balance()
    # Validity over, still within the grace: the report may yet come.
    assert rig.sweeper.sweep(message.expires_at).gave_up == []
    assert rig.sweeper.sweep(end - US).gave_up == []
    assert rig.ledger.get_message(mid).status == 111
    # At the end of the grace: 599 Unknown, no refund (the carrier's cost is real).
    assert rig.sweeper.sweep(end).gave_up == [mid]
    message = rig.ledger.get_message(mid)
    assert (message.status, message.refunded) == (599, False)
    assert rig.balance() == charged
    # A late, interpretable final report still corrects it.
    [r] = rig.ledger.record_delivery_reports(
        [{"message_id": str(mid), "status_code": 201, "at": end.isoformat()}]
    ).value
    assert r["outcome"] == "applied"
    assert rig.ledger.get_message(mid).status == 201


def test_a_non_final_report_does_not_stop_giving_up(rig: Rig) -> None:
    mid = rig.send(validity=600)
    rig.dispatcher.run_until_idle()
    expires_at = rig.ledger.get_message(mid).expires_at
    rig.ledger.record_delivery_reports(
        [{"message_id": str(mid), "status_code": 503, "at": expires_at.isoformat()}]
    )
    assert rig.sweeper.sweep(expires_at + GRACE).gave_up == [mid]
    assert rig.ledger.get_message(mid).status == 599


def test_a_final_message_is_left_alone(rig: Rig) -> None:
    mid = rig.send(validity=600)
    rig.dispatcher.run_until_idle()
    expires_at = rig.ledger.get_message(mid).expires_at
    rig.ledger.record_delivery_reports(
        [{"message_id": str(mid), "status_code": 201, "at": expires_at.isoformat()}]
    )
    result = rig.sweeper.sweep(expires_at + GRACE * 5)
    assert (result.expired, result.gave_up) == ([], [])
    assert rig.ledger.get_message(mid).status == 201


def test_stuck_at_sending_the_gateway_decides(rig: Rig, clock: FakeClock) -> None:
    # Two messages left at 110 by a dead dispatcher; the gateway has only the first.
    sent, unsent = rig.send(validity=600), rig.send(validity=600)
    started, _ = rig.ledger.start_sending([sent, unsent], clock.now).value
    [at_gateway] = [m for m in started if m.id == sent]
    rig.sim.submit(Outgoing.of(at_gateway), clock.now)
    rig.dispatcher.follow()
    end = rig.ledger.get_message(sent).expires_at + GRACE
    result = rig.sweeper.sweep(end)
    assert (result.expired, result.gave_up) == ([unsent], [sent])
    assert rig.ledger.get_message(sent).status == 599
    never = rig.ledger.get_message(unsent)
    assert (never.status, never.refunded) == (202, True)


def test_stuck_at_sending_after_a_refusal_is_the_failed_hand_off(
    rig: Rig, clock: FakeClock
) -> None:
    # A message left at 110 by a dispatcher that died after the gateway refused it.
    mid = rig.send(validity=600)
    charged = rig.balance()
    [message], _ = rig.ledger.start_sending([mid], clock.now).value
    rig.sim.config = SimulatorConfig(mix=OutcomeMix(0, 0, 0, 0, 0, 0, 1))
    with pytest.raises(HandOffRefusedError):
        rig.sim.submit(Outgoing.of(message), clock.now)
    rig.dispatcher.follow()
    # The sweeper asks the gateway, which says it refused it: 511, refunded, not 202.
    rig.sweeper.sweep(message.expires_at + GRACE)
    after = rig.ledger.get_message(mid)
    assert (after.status, after.refunded) == (511, True)
    assert rig.balance() == charged + 45
    assert rig.sim.submissions() == {mid: (1, 0)}


def test_cancel_before_hand_off_at_the_last_moment(rig: Rig, clock: FakeClock) -> None:
    mid = rig.send(validity=600, send_at=clock.now + timedelta(minutes=5))
    charged = rig.balance()
    clock.advance(minutes=5)  # due now, but the dispatcher has not run
    message = rig.ledger.cancel(mid).value
    assert (message.status, message.refunded) == (203, True)
    assert rig.balance() == charged + 45
    # Nothing more happens to it: not handed off, not expired.
    rig.dispatcher.run_until_idle()
    assert rig.sweeper.sweep(clock.now + timedelta(days=3)).expired == []
    assert rig.ledger.get_message(mid).status == 203
    assert rig.sim.submissions() == {}
    with pytest.raises(ConflictError):
        rig.ledger.cancel(mid)


def test_cancel_at_sending_is_a_conflict_that_changes_nothing(rig: Rig, clock: FakeClock) -> None:
    mid = rig.send()
    rig.ledger.start_sending([mid], clock.now)
    head = rig.ledger.recorder.max_notification_id()
    with pytest.raises(AlreadyHandedOffError):
        rig.ledger.cancel(mid)
    assert rig.ledger.recorder.max_notification_id() == head


def test_expired_messages_are_found_by_the_queue_not_by_scanning(
    rig: Rig, clock: FakeClock
) -> None:
    mids = [rig.send(validity=60 * (i + 1)) for i in range(5)]
    rig.dispatcher.follow()
    # Only those whose validity has ended come back from the index range.
    result = rig.sweeper.sweep(clock.now + timedelta(seconds=150))
    assert sorted(result.expired) == sorted(mids[:2])
    # Once the queue has followed the log, the expired ones have left it.
    rig.dispatcher.follow()
    with rig.views.reading() as cur:
        cur.execute("SELECT count(*) FROM delivery_queue")
        assert cur.fetchone()[0] == 3


def test_sweep_command_runs_one_pass_at_the_given_time(
    rig: Rig, clock: FakeClock, database: Database, tmp_path: Path
) -> None:
    mid = rig.send(validity=600)
    expires_at = rig.ledger.get_message(mid).expires_at
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": url_of(database), "SMSLEDGER_GATEWAY": "none"}

    def sweep(at: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "smsledger", "sweep", "--now", at],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "expired 0" in sweep((expires_at - US).isoformat())
    assert "expired 1" in sweep(expires_at.isoformat())
    assert rig.ledger.get_message(mid).status == 202
    bad = subprocess.run(
        [sys.executable, "-m", "smsledger", "sweep", "--now", "2026-11-02T10:00"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
