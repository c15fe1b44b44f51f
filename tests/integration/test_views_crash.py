"""SIGKILL `smsledger project` mid-page, restart it: no event applied twice, none lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from smsledger.adapters.storage import Database
from smsledger.application.ledger import Ledger
from smsledger.projections.db import ViewDatabase
from smsledger.projections.queries import build_runner
from tests.support import dump_views as dump
from tests.support import url_of

pytestmark = pytest.mark.slow


def lowest_position(views: ViewDatabase) -> int:
    with views.reading() as cur:
        cur.execute("SELECT name, position FROM projection_tracking")
        rows = dict(cur.fetchall())
    names = ("message_status", "account_ledger", "invoices")
    return min(int(rows.get(n, 0)) for n in names)


def test_sigkill_mid_page_then_restart_applies_every_event_once(
    ledger: Ledger, views: ViewDatabase, database: Database
) -> None:
    prepaid = ledger.open_account("Prepaid").value
    post = ledger.open_account("Post", payment_model="post_invoice").value
    ledger.top_up(prepaid.id, 10**9, "t")
    recipients = [f"+467312{i:05d}" for i in range(1000)]
    for n in range(12):
        account = prepaid if n % 2 else post
        ledger.send_batch(account.id, sender="Acme", recipients=recipients, body=f"b{n}")
    head = int(ledger.recorder.max_notification_id() or 0)

    env = {**os.environ, "SMSLEDGER_DATABASE_URL": url_of(database)}
    cmd = [sys.executable, "-m", "smsledger", "project"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while lowest_position(views) == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # somewhere inside a later page
    finally:
        proc.wait(timeout=30)
    killed_at = lowest_position(views)
    assert 0 < killed_at < head, "the kill should land before the end of the log"

    subprocess.run([*cmd, "--once"], env=env, check=True, capture_output=True, timeout=120)
    assert lowest_position(views) == head
    after_restart = dump(views)
    assert len(after_restart["view_messages"]) == 12_000
    assert len(after_restart["view_ledger_entries"]) == 1 + 6_000

    runner = build_runner(ledger, views)
    for projection in runner.projections:
        runner.rebuild(projection.name)
    assert dump(views) == after_restart
