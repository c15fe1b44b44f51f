"""History and as-of come from the event store: every event, and the status at any time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.domain.errors import MessageNotFoundError
from tests.support import FakeClock, ReadSide, url_of


@pytest.fixture
def queries(ledger: Ledger, database: Database) -> Iterator[ReadSide]:
    views = open_views(database)
    yield ReadSide(ledger, views)
    views.close()


def test_history_lists_every_event_with_its_status_and_as_of(
    ledger: Ledger, queries: ReadSide, clock: FakeClock
) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 100, "t")
    sent_at = clock.now
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=["+46731234567"], body="x")
    mid = UUID(receipt.lines[0]["id"])
    clock.advance(minutes=1)
    m = ledger.get_message(mid)
    m.start_sending(clock.now)
    m.hand_off("gw", clock.now)
    ledger.save(m)
    handed_off_at = clock.now
    clock.advance(minutes=10)
    carrier_time = clock.now - timedelta(minutes=3)
    m = ledger.get_message(mid)
    m.record_report(201, carrier_time, "DELIVRD", clock.now)
    m.record_report(113, carrier_time - timedelta(minutes=1), "late info", clock.now)
    ledger.save(m)

    history = queries.history(mid)
    assert history["message_id"] == mid
    assert history["status"] == {"code": 201, "name": "DeliveredToHandset", "group": "Success"}
    steps = [(e["version"], e["type"], (e["status"] or {}).get("code")) for e in history["events"]]
    assert steps == [
        (1, "Accepted", 101),
        (2, "Funded", 103),
        (3, "Sending", 110),
        (4, "HandedOff", 111),
        (5, "ReportApplied", 201),
        (6, "ReportSuperseded", None),
    ]
    report = history["events"][4]
    # `at` is when the ledger recorded it; the carrier's own time stays in the data.
    assert report["at"] == clock.now
    # One time format in every answer: RFC 3339 in UTC with Z, in the data too.
    assert report["data"]["carrier_at"] == carrier_time.isoformat().replace("+00:00", "Z")
    assert report["data"]["raw"] == "DELIVRD"

    assert queries.history(mid, sent_at)["status"]["code"] == 103
    assert queries.history(mid, handed_off_at)["status"]["code"] == 111
    assert queries.history(mid, sent_at - timedelta(seconds=1))["status"] is None


def test_history_as_of_lists_only_events_recorded_by_then(
    ledger: Ledger, queries: ReadSide, clock: FakeClock
) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 100, "t")
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=["+46731234567"], body="x")
    mid = UUID(receipt.lines[0]["id"])
    clock.advance(minutes=1)
    m = ledger.get_message(mid)
    m.start_sending(clock.now)
    m.hand_off("gw", clock.now)
    ledger.save(m)
    # Support asks about this instant: handed off, no report yet.
    as_of = clock.advance(minutes=1)
    # The carrier delivered before then, but its report reaches the ledger an hour later.
    carrier_time = as_of - timedelta(seconds=30)
    clock.advance(hours=1)
    m = ledger.get_message(mid)
    m.record_report(201, carrier_time, "DELIVRD", clock.now)
    ledger.save(m)

    then = queries.history(mid, as_of)
    assert [e["type"] for e in then["events"]] == ["Accepted", "Funded", "Sending", "HandedOff"]
    assert all(e["at"] <= as_of for e in then["events"])
    assert then["status"]["code"] == 111
    # Now it is there, with the carrier's time in its data.
    now = queries.history(mid)
    assert now["events"][-1]["type"] == "ReportApplied"
    assert now["status"]["code"] == 201
    # Before the message existed: no events and no status, though the id is known.
    before = queries.history(mid, as_of - timedelta(days=1))
    assert before["events"] == []
    assert before["status"] is None


def test_history_of_an_unknown_or_non_message_id_is_not_found(
    ledger: Ledger, queries: ReadSide
) -> None:
    account = ledger.open_account("Acme").value
    with pytest.raises(MessageNotFoundError):
        queries.history(uuid4())
    with pytest.raises(MessageNotFoundError):
        queries.history(account.id)


def test_history_command_prints_json(ledger: Ledger, database: Database, clock: FakeClock) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 100, "t")
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=["+46731234567"], body="x")
    mid = receipt.lines[0]["id"]
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": url_of(database)}
    cmd = [sys.executable, "-m", "smsledger", "history", mid]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=60)
    events = json.loads(done.stdout)["events"]
    assert [e["type"] for e in events] == ["Accepted", "Funded"]
    # Times as the API writes them: UTC with Z.
    assert all(e["at"].endswith("Z") for e in events), events
    before = (clock.now - timedelta(days=1)).isoformat()
    done = subprocess.run(
        [*cmd, "--as-of", before], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert json.loads(done.stdout)["status"] is None
    missing = subprocess.run(
        [*cmd[:-1], str(uuid4())], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert missing.returncode == 1
