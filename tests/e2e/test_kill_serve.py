"""kill -9 of ``serve`` during concurrent sends, 20 times: no charge without an answer.

Clients send with a ``reference``; a request the kill left unanswered is sent again,
with the same reference, once ``serve`` is back. The kills come at random times, half
of them just after a charge is committed, so some land between a commit and its
answer. At the end every reference has its 202, a retried one the same answer, every
charge in the event store belongs to an answered message and none is charged twice,
``smsledger audit`` passes, the views equal a rebuild, and the carrier was asked to
send each message once.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
import uuid
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from smsledger.adapters.simulator import CarrierSimulator
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.domain.batch import batch_id_for
from smsledger.projections.queries import build_runner
from tests.e2e.serving import SMSLEDGER, serve
from tests.e2e.traffic import Answer, Sender, charged, open_sender, send_one, serve_env, stored
from tests.support import dump_views

if TYPE_CHECKING:
    from pathlib import Path

    from smsledger.adapters.storage import Database

pytestmark = pytest.mark.slow

KILLS = 20
CLIENTS = 6
RECIPIENTS = 1
# Seconds the whole scenario may take: ~65 s on an idle 2-core machine, almost all of it
# the 21 starts of ``serve``; the bound is for a hang, not for speed.
BUDGET = 240.0


class Traffic:
    """Clients that send with references, and remember what was and was not answered."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.lock = threading.Lock()
        self.unanswered: deque[str] = deque()
        self.answers: dict[str, dict[str, Any]] = {}
        self.retried: set[str] = set()
        self.odd: list[tuple[str, int | None, str | None]] = []
        self.sent = 0

    def _next(self) -> str:
        with self.lock:
            if self.unanswered:
                ref = self.unanswered.popleft()
                self.retried.add(ref)
                return ref
            self.sent += 1
            return f"ref-{self.sent}"

    def one(self, url: str) -> None:
        ref = self._next()
        n = int(ref.split("-")[1])
        answer = send_one(url, self.sender, n, reference=ref, recipients=RECIPIENTS)
        with self.lock:
            if answer.status == 202:
                first = self.answers.setdefault(ref, answer.body)
                if first is not answer.body:
                    self.odd.append((ref, 202, "answered twice"))
            elif answer.status is None or answer.status == 503:
                self.unanswered.append(ref)  # the kill (or a restart) cut it off: retry
            else:
                self.odd.append((ref, answer.status, str(answer.body.get("detail"))))

    def run(self, url: str, stop: threading.Event) -> list[threading.Thread]:
        def loop() -> None:
            while not stop.is_set():
                self.one(url)

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        return threads


def _committed(ledger: Ledger, traffic: Traffic | None, refs: list[str]) -> set[str]:
    if traffic is None:
        return set()
    account = uuid.UUID(traffic.sender.account_id)
    return {r for r in refs if ledger.recorder.select_events(batch_id_for(account, r), limit=1)}


def _next_charge(ledger: Ledger, traffic: Traffic, seconds: float = 2.0) -> None:
    """Return as soon as the account records its next event (or after ``seconds``)."""
    account = uuid.UUID(traffic.sender.account_id)

    def version() -> int:
        last = ledger.recorder.select_events(account, desc=True, limit=1)
        return last[0].originator_version if last else 0

    before, deadline = version(), time.monotonic() + seconds
    while version() == before and time.monotonic() < deadline:
        time.sleep(0.0005)


def _audit(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    period = datetime.now(ZoneInfo("Europe/Stockholm")).strftime("%Y-%m")
    return subprocess.run(
        [SMSLEDGER, "audit", "--period", period],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_killed_twenty_times_every_charge_has_its_answer(
    database: Database, tmp_path: Path
) -> None:
    started = time.monotonic()
    rng = random.Random(20)
    env = serve_env(database)
    traffic: Traffic | None = None
    ledger = Ledger(database.eventsourcing_env())
    committed_unanswered: set[str] = set()
    for _ in range(KILLS):
        with serve(tmp_path, env) as served:
            if traffic is None:
                traffic = Traffic(open_sender(served.url, balance=10**8))
            # Concurrent sends (the unanswered ones first), then SIGKILL mid-traffic.
            stop = threading.Event()
            threads = traffic.run(served.url, stop)
            time.sleep(rng.uniform(0.3, 0.9))
            if rng.random() < 0.5:
                # Half the kills wait for the next charge to be committed, so they land
                # between a commit and its answer (at random, that window is rare).
                _next_charge(ledger, traffic)
            served.process.kill()
            served.process.wait(10)
            stop.set()
            for t in threads:
                t.join(30)
        # Which of the cut-off requests were committed before the kill: charged, and
        # their client without an answer. Those are what the retries must make whole.
        committed_unanswered |= _committed(ledger, traffic, list(traffic.unanswered))
    assert traffic is not None
    cut_off = len(traffic.retried) + len(traffic.unanswered)
    assert cut_off > 0, "no kill landed while a request was in flight"
    assert committed_unanswered, "no kill landed between a commit and its answer"

    # Back once more: every unanswered request is retried until it has its answer.
    with serve(tmp_path, env) as served:
        deadline = time.monotonic() + 30
        while traffic.unanswered:
            assert time.monotonic() < deadline, f"{len(traffic.unanswered)} never answered"
            traffic.one(served.url)
        # A reference sent again answers the first answer (idempotent), charging nothing.
        for ref in rng.sample(sorted(traffic.answers), 10):
            n = int(ref.split("-")[1])
            again = send_one(served.url, traffic.sender, n, reference=ref, recipients=RECIPIENTS)
            assert again.status == 202
            first = traffic.answers[ref]
            assert again.body["batch_id"] == first["batch_id"]
            assert [m["id"] for m in again.body["messages"]] == [m["id"] for m in first["messages"]]
        # Let the dispatcher hand off what is funded before the final stop.
        time.sleep(1.0)
    assert traffic.odd == []

    # Every 202 has its message, every charge belongs to a 202, none charged twice.
    account = traffic.sender.account_id
    promised = charged([Answer(202, body) for body in traffic.answers.values()])
    in_store = stored(database, account)
    assert in_store.charges == promised
    assert set(in_store.times_charged.values()) == {1}
    answered_ids = {uuid.UUID(m["id"]) for b in traffic.answers.values() for m in b["messages"]}
    views = open_views(database)
    sim = CarrierSimulator(database, views=views)
    try:
        assert set(ledger.get_messages(sorted(answered_ids))) == answered_ids
        # The carrier was asked to send each message once, kills or not.
        assert {calls for calls, _ in sim.submissions().values()} <= {1}
        # The books balance, and the views are what a rebuild from the log gives.
        audit = _audit(tmp_path, env)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        runner = build_runner(ledger, views)
        runner.run_once()
        incremental = dump_views(views)
        for projection in runner.projections:
            runner.rebuild(projection.name)
        assert dump_views(views) == incremental
    finally:
        sim.close()
        views.close()
        ledger.close()
    assert time.monotonic() - started < BUDGET, "the scenario ran over its budget"
