"""SIGKILL the dispatcher mid-batch, restart it: every message is submitted exactly once.

``smsledger dispatch`` runs as its own process against a SQLite file or a PostgreSQL
schema, with a simulated gateway that takes a little while per submission so the kills
land between recording Sending (110) and recording what the gateway said: 111 with its
reference, or 511 when it refused (three in ten here). The simulator counts submit
calls and accepted submissions per message id in the database, so the counts survive
the kills; every id must have been submitted once, refused ones included.
"""

from __future__ import annotations

import os
import random
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
KILLS = 8


def _dispatch_command() -> list[str]:
    script = Path(sys.executable).parent / "smsledger"
    if script.exists():
        return [str(script), "dispatch", "--batch-size", str(BATCH)]
    return [sys.executable, "-m", "smsledger", "dispatch", "--batch-size", str(BATCH)]


def _calls(sim: CarrierSimulator) -> int:
    return sum(calls for calls, _ in sim.submissions().values())


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
        "SMSLEDGER_SIMULATOR_MIX": "delivered=7,gateway_failure=3",
        "SMSLEDGER_SIMULATOR_SUBMIT_LATENCY": "0.01",
        "SMSLEDGER_LOG_LEVEL": "WARNING",
    }
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    views = open_views(database)
    sim = CarrierSimulator(database, views=views)
    try:
        stuck_seen = refused_stuck = 0
        # Kill it KILLS times, at random points of the submissions (and a random few
        # milliseconds after), each restart going on from where the last one died.
        for target in sorted(rng.sample(range(1, N - BATCH), KILLS)):
            proc = subprocess.Popen(
                _dispatch_command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + 60
            while _calls(sim) < target:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, f"the dispatcher made no progress (seed {seed})"
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.02))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            # The kill left messages at Sending (110): recorded, maybe submitted, and
            # maybe refused by the gateway before the refusal was recorded.
            submissions = sim.submissions()
            at_sending = [m.id for m in ledger.get_messages(ids).values() if m.status == 110]
            stuck_seen += len(at_sending)
            refused_stuck += sum(1 for mid in at_sending if submissions.get(mid, (0, 1))[1] == 0)
        assert stuck_seen > 0, f"the kills did not land mid-batch (seed {seed})"
        assert refused_stuck > 0, f"no kill landed after a refusal (seed {seed})"

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
            # Asked to send exactly once: a message found at 110 after a kill was looked
            # up at the gateway, which gave its first answer, before any resubmit.
            assert calls == 1, (mid, message.status, calls, seed)
            if message.status == 511:
                # Refused by the gateway: never taken, refunded.
                assert accepted == 0, (mid, seed)
                assert message.refunded
            else:
                assert accepted == 1, (mid, message.status, seed)
                assert message.handed_off
                assert message.gateway_ref == sim.lookup(mid)
        assert set(submissions) == set(ids)
        assert any(m.status == 511 for m in messages.values())
    finally:
        sim.close()
        views.close()
