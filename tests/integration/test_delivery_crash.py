"""SIGKILL the dispatcher mid-batch, restart it: every funded message is sent exactly once.

``smsledger dispatch`` runs as its own process against a SQLite file or a PostgreSQL
schema, with a simulated gateway that takes a little while per submission so the kill
lands between recording Sending (110) and recording DeliveredToGateway (111). The
simulator counts submit calls and accepted submissions per message id in the database,
so the counts survive the kills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from smsledger.adapters.simulator import CarrierSimulator
from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from tests.support import FakeClock, url_of

pytestmark = pytest.mark.slow

N = 300
BATCH = 40


def _dispatch_command() -> list[str]:
    script = Path(sys.executable).parent / "smsledger"
    if script.exists():
        return [str(script), "dispatch", "--batch-size", str(BATCH)]
    return [sys.executable, "-m", "smsledger", "dispatch", "--batch-size", str(BATCH)]


def _accepted_submissions(sim: CarrierSimulator) -> int:
    return sum(accepted for _, accepted in sim.submissions().values())


def test_a_killed_dispatcher_never_sends_a_message_twice(
    ledger: Ledger, database: Database, clock: FakeClock
) -> None:
    # Messages funded now (the dispatcher process uses the wall clock).
    clock.set(datetime.now(UTC))
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 1_000_000, "t")
    receipt = ledger.send_batch(
        account.id,
        sender="Acme",
        recipients=[f"+4670{i:07d}" for i in range(N)],
        body="hello",
    )
    ids = [UUID(line["id"]) for line in receipt.lines]
    env = {
        **os.environ,
        "SMSLEDGER_DATABASE_URL": url_of(database),
        "SMSLEDGER_GATEWAY": "simulator",
        "SMSLEDGER_SIMULATOR_SUBMIT_LATENCY": "0.01",
        "SMSLEDGER_LOG_LEVEL": "WARNING",
    }
    views = open_views(database)
    sim = CarrierSimulator(database, views=views)
    try:
        stuck_seen = 0
        # Kill it twice, each time in the middle of a batch.
        for target in (BATCH + BATCH // 2, 3 * BATCH + BATCH // 3):
            proc = subprocess.Popen(
                _dispatch_command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + 60
            while _accepted_submissions(sim) < target:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the dispatcher made no progress"
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            # The kill left messages at Sending (110): recorded, maybe submitted.
            statuses = [m.status for m in ledger.get_messages(ids).values()]
            stuck_seen += statuses.count(110)
        assert stuck_seen > 0, "the kills did not land mid-batch"

        # A fresh dispatcher finishes the job and exits when idle.
        done = subprocess.run(
            [*_dispatch_command(), "--until-idle"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr

        submissions = sim.submissions()
        messages = ledger.get_messages(ids)
        for mid in ids:
            message = messages[mid]
            calls, accepted = submissions[mid]
            if message.status == 511:
                # Refused by the gateway: never taken, refunded.
                assert accepted == 0
                assert message.refunded
            else:
                # Taken exactly once, and never even asked twice: a message found at
                # 110 after a kill was looked up at the gateway before any resubmit.
                assert (calls, accepted) == (1, 1), (mid, message.status)
                assert message.handed_off
                assert message.gateway_ref == sim.lookup(mid)
        assert set(submissions) == set(ids)
    finally:
        sim.close()
        views.close()
