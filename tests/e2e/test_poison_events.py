"""A bad event in one account's log stops no one else (issue 11), on both databases.

The event is written straight into the store, past every check: one the transcoder
cannot read, and one that reads but whose view row cannot be stored (an amount beyond
a 64-bit integer). Every other account keeps sending and reading its own writes;
``/healthz`` and ``/metrics`` say which projection skipped what; after the bad row is
repaired, ``rebuild`` heals the projection and health is ok again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING
from uuid import UUID

import orjson
import pytest

from smsledger.projections.webhooks import WebhookOutboxProjection
from tests.e2e.conftest import OPERATOR, catch_up, open_tenant
from tests.support import rewrite_raw_event, url_of, write_raw_event

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.adapters.storage import Database
    from smsledger.bootstrap import Services

TOPPED_UP = "smsledger:Account.ToppedUp"
WHEN = {"_type_": "datetime_iso", "_data_": "2026-11-02T09:00:00+00:00"}
POISON = {
    "undecodable": b"\xff\x00 not json",
    "unstorable": orjson.dumps({"timestamp": WHEN, "amount": 2**63, "reference": "huge"}),
}
REPAIRED = orjson.dumps({"timestamp": WHEN, "amount": 5, "reference": "repaired"})


@pytest.mark.parametrize("poison", sorted(POISON))
def test_a_poison_event_in_one_account_stops_no_other_and_a_rebuild_heals_it(
    client: TestClient, services: Services, database: Database, poison: str
) -> None:
    victim = open_tenant(client, name="Victim", top_up=1_000)
    other = open_tenant(client, name="Other", top_up=10_000)
    catch_up(services)

    # A bad event for the victim, straight into the store.
    position = write_raw_event(services.ledger, UUID(victim.id), TOPPED_UP, POISON[poison])
    catch_up(services)

    # The other account sends, and reads its own write.
    sent = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": ["+46731234567"], "body": "Hello"},
        headers=other.as_("sender"),
    )
    assert sent.status_code == 202, sent.text
    catch_up(services)
    read = client.get(
        f"/v1/messages/{sent.json()['messages'][0]['id']}",
        headers={**other.as_("sender"), "X-Ledger-Min-Position": sent.headers["X-Ledger-Position"]},
    )
    assert read.status_code == 200, read.text
    balance = client.get(f"/v1/accounts/{other.id}", headers=other.as_("admin"))
    assert balance.json()["balance"] < 10_000  # the charge reached the ledger view

    # Health says which projection skipped which event; to anyone, only where and what.
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    ledger_view = body["projections"]["account_ledger"]
    assert ledger_view["failed_events"] == 1
    assert ledger_view["failures"] == [{"position": position, "topic": TOPPED_UP}]
    assert ledger_view["lag"] == 0
    assert body["projections"]["message_status"]["failed_events"] == 0
    assert victim.id not in health.text
    # The operator also sees whose and why.
    [detail] = client.get("/healthz", headers=OPERATOR).json()["projections"]["account_ledger"][
        "failures"
    ]
    assert detail["originator_id"] == victim.id
    assert detail["error"]
    assert detail["first_seen"]
    if poison == "unstorable":
        assert detail["account_id"] == victim.id
    metrics = client.get("/metrics", headers=OPERATOR).text
    assert 'smsledger_projection_failed_events{projection="account_ledger"} 1.0' in metrics
    assert 'smsledger_projection_healthy{projection="account_ledger"} 0.0' in metrics
    assert 'smsledger_projection_healthy{projection="message_status"} 1.0' in metrics

    # The bad row repaired, a rebuild replays it: healthy, and the top-up counted.
    rewrite_raw_event(database, UUID(victim.id), position, REPAIRED)
    services.runner.rebuild("account_ledger")
    healed = client.get("/healthz").json()
    assert healed["status"] == "ok"
    assert healed["projections"]["account_ledger"]["failed_events"] == 0
    assert 'smsledger_projection_healthy{projection="account_ledger"} 1.0' in (
        client.get("/metrics", headers=OPERATOR).text
    )
    victim_now = client.get(f"/v1/accounts/{victim.id}", headers=victim.as_("admin"))
    assert victim_now.json()["balance"] == 1_005


def test_smsledger_project_shows_a_skipped_event_and_a_rebuild_clears_it(
    services: Services, database: Database
) -> None:
    account = services.ledger.open_account("Victim").value
    position = write_raw_event(services.ledger, account.id, TOPPED_UP, POISON["unstorable"])
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": url_of(database)}
    project = [sys.executable, "-m", "smsledger", "project", "--once"]

    shown = subprocess.run(
        project, check=False, env=env, capture_output=True, text=True, timeout=60
    )

    assert shown.returncode == 0, shown.stderr
    assert "account_ledger: position" in shown.stdout
    assert "1 event(s) skipped: UNHEALTHY" in shown.stdout
    assert f"! position {position} {TOPPED_UP} (originator {account.id}" in shown.stdout
    assert "--rebuild NAME" in shown.stdout
    # The log says exactly which event and why.
    assert f"skipped the event at position {position}" in shown.stderr

    rewrite_raw_event(database, account.id, position, REPAIRED)
    healed = subprocess.run(
        [*project, "--rebuild", "account_ledger"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert healed.returncode == 0, healed.stderr
    assert "UNHEALTHY" not in healed.stdout
    assert services.runner.failures() == []


def test_the_delivery_queue_skips_a_poison_event_too_and_heals_by_its_own_rebuild(
    client: TestClient, services: Services, database: Database
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    sent = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": ["+46731234567"], "body": "Hello"},
        headers=tenant.as_("sender"),
    )
    assert sent.status_code == 202, sent.text
    message = UUID(sent.json()["messages"][0]["id"])
    sending = "smsledger:Message.Sending"
    position = write_raw_event(services.ledger, message, sending, POISON["undecodable"])

    # The status view, the callbacks' outbox and the dispatcher's queue read that topic;
    # each skips it.
    catch_up(services)
    services.dispatcher.follow()

    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    for name in ("message_status", WebhookOutboxProjection.name, "dispatcher"):
        assert body["projections"][name]["failures"] == [{"position": position, "topic": sending}]
    assert body["projections"]["invoices"]["failed_events"] == 0

    # Repaired, each rebuilt: the CLI knows the dispatcher's queue by its name too.
    rewrite_raw_event(database, message, position, orjson.dumps({"timestamp": WHEN}))
    services.runner.rebuild("message_status")
    services.runner.rebuild(WebhookOutboxProjection.name)
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": url_of(database)}
    rebuilt = subprocess.run(
        [sys.executable, "-m", "smsledger", "project", "--once", "--rebuild", "dispatcher"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt dispatcher" in rebuilt.stdout
    assert client.get("/healthz").json()["status"] == "ok"
    read = client.get(f"/v1/messages/{message}", headers=tenant.as_("sender"))
    assert read.json()["status"]["code"] == 110  # Sending, once the event is readable
