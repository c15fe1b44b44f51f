"""Status callbacks end to end: configured over HTTP, fed by the log, delivered to a real
receiver that verifies every signature, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from smsledger.api.main import create_app
from smsledger.bootstrap import Services, build
from smsledger.settings import Settings
from tests.e2e.conftest import OPERATOR_TOKEN, Tenant, catch_up, open_tenant
from tests.webhook_receiver import Receiver, receiving

if TYPE_CHECKING:
    from collections.abc import Iterator

    from smsledger.adapters.storage import Database
    from tests.support import FakeClock

SE = ["+46731234567", "+46731234568", "+46731234569"]


@pytest.fixture
def services(database: Database, clock: FakeClock) -> Iterator[Services]:
    settings = Settings(
        operator_token=OPERATOR_TOKEN,
        gateway="simulator",
        workers="none",
        webhook_allow_loopback=True,
        webhook_timeout_seconds=2,
        simulator_mix="delivered=1",
    )
    built = build(settings, database=database, clock=clock)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def configure(client: TestClient, tenant: Tenant, receiver: Receiver, **body: Any) -> str:
    r = client.put(
        f"/v1/accounts/{tenant.id}/webhook",
        json={"url": receiver.url, "events": ["message.status"], **body},
        headers=tenant.as_("admin"),
    )
    assert r.status_code == 200, r.text
    secret: str = r.json()["secret"]
    receiver.secrets.append(secret)
    return secret


def deliver(services: Services, clock: FakeClock, rounds: int = 6, step: float = 30) -> None:
    """Let the carrier, the projections and the callback worker run, moving the clock."""
    assert services.webhooks is not None
    for _ in range(rounds):
        catch_up(services)
        services.dispatcher.run_until_idle()
        catch_up(services)
        services.webhooks.run_until_idle()
        clock.advance(seconds=step)


def test_every_status_change_reaches_the_receiver_signed_once(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    # An account with a webhook sends a batch; the simulator delivers it.
    tenant = open_tenant(client, top_up=10_000)
    secret = configure(client, tenant, receiver)
    assert secret.startswith("whsec_")
    sent = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": SE[:2], "body": "hi"},
        headers=tenant.as_("sender"),
    )
    assert sent.status_code == 202, sent.text
    deliver(services, clock)
    # Every change arrived once, verified; the last one per message is the final status.
    assert receiver.forged == 0
    changes = receiver.changes()
    ids = receiver.ids
    assert ids
    assert set(ids.values()) == {1}
    by_message: dict[str, list[int]] = {}
    for r in receiver.received:
        by_message.setdefault(r.body["id"], []).append(r.body["status"]["code"])
    assert set(by_message) == {m["id"] for m in sent.json()["messages"]}
    for codes in by_message.values():
        # Parallel sends may reorder a message's changes; each carries its event time.
        assert sorted(codes) == [103, 110, 111, 112, 113, 201], codes
    # The final change's body is exactly what GET /v1/messages/{id} answers, plus the event.
    last = next(r.body for r in receiver.received if r.body["status"]["code"] == 201)
    read = client.get(f"/v1/messages/{last['id']}", headers=tenant.as_("sender")).json()
    assert {k: v for k, v in last.items() if k != "event"} == read
    assert last["event"]["type"] == "message.status"
    assert len(changes) == len(ids)
