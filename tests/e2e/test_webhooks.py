"""Status callbacks end to end: configured over HTTP, fed by the log, delivered to a real
receiver that verifies every signature, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from smsledger.api.main import create_app
from smsledger.bootstrap import Services, build, webhook_worker
from smsledger.settings import Settings
from smsledger.workers.webhooks import WebhookWorker
from tests.e2e.conftest import (
    OPERATOR,
    OPERATOR_TOKEN,
    Tenant,
    catch_up,
    open_tenant,
    problem_of,
)
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
        # Every message ends 201: the carrier's reports may still come twice, late or out
        # of order, but never with a code outside the table (599, which a test of "every
        # change arrives" cannot tell from a lost one).
        simulator_faults="unknown_code=0",
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
        assert {103, 110, 111, 201} <= set(codes), codes
    # The final change's body is exactly what GET /v1/messages/{id} answers, plus the event.
    last = next(r.body for r in receiver.received if r.body["status"]["code"] == 201)
    read = client.get(f"/v1/messages/{last['id']}", headers=tenant.as_("sender")).json()
    assert {k: v for k, v in last.items() if k != "event"} == read
    assert last["event"]["type"] == "message.status"
    assert len(changes) == len(ids)


def send(client: TestClient, tenant: Tenant, n: int = 1, **body: Any) -> dict[str, Any]:
    r = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": SE[:n], "body": "hi", **body},
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 202, r.text
    answer: dict[str, Any] = r.json()
    return answer


def deliveries(client: TestClient, tenant: Tenant, role: str = "admin") -> list[dict[str, Any]]:
    r = client.get(
        f"/v1/accounts/{tenant.id}/webhook/deliveries?limit=1000", headers=tenant.as_(role)
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_a_receiver_down_for_an_hour_gets_every_change_afterwards_with_backoff(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    # The receiver fails every call for an hour of (moved) time.
    tenant = open_tenant(client, top_up=10_000)
    configure(client, tenant, receiver)
    send(client, tenant, n=2)
    receiver.mode = "fail"
    deliver(services, clock, rounds=60, step=60)
    items = deliveries(client, tenant)
    assert len(items) >= 8
    assert not receiver.received
    assert {d["state"] for d in items} == {"pending"}
    # Each callback was tried with growing gaps (exponential, jittered), not every round.
    for d in items:
        tried = [a["at"] for a in d["attempts"]]
        assert 5 <= len(tried) <= 14, tried
        assert all(a["status_code"] == 500 for a in d["attempts"])
        assert all(a["next_retry_at"] for a in d["attempts"])
    # Back up: within the next (capped) gap, every change arrives, none lost, once each.
    receiver.mode = "ok"
    deliver(services, clock, rounds=70, step=60)
    assert {d["state"] for d in deliveries(client, tenant)} == {"done"}
    assert set(receiver.ids) == {d["id"] for d in items}
    assert set(receiver.ids.values()) == {1}
    assert receiver.forged == 0


def test_a_gone_receiver_disables_the_endpoint_until_the_webhook_is_put_again(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    configure(client, tenant, receiver)
    send(client, tenant, n=2)
    receiver.mode = "gone"
    deliver(services, clock, rounds=3)
    # 410: those callbacks are gone, and nothing more is sent to that URL.
    asked = receiver.requests
    assert 1 <= asked <= services.settings.webhook_concurrency
    deliver(services, clock, rounds=3)
    assert receiver.requests == asked
    state = client.get(f"/v1/accounts/{tenant.id}/webhook", headers=tenant.as_("admin")).json()
    assert state["state"] == "disabled"
    # PUT again: the endpoint is active, the waiting changes go out, and a re-send
    # brings a gone one back under its own webhook-id.
    receiver.mode = "ok"
    configure(client, tenant, receiver)
    deliver(services, clock, rounds=3)
    items = deliveries(client, tenant)
    gone = [d for d in items if d["state"] == "gone"]
    assert len(gone) == asked
    assert {d["state"] for d in items} == {"done", "gone"}
    r = client.post(
        f"/v1/accounts/{tenant.id}/webhook/deliveries/{gone[0]['id']}/resend",
        headers=tenant.as_("admin"),
    )
    assert r.status_code == 202, r.text
    deliver(services, clock, rounds=2)
    assert receiver.ids[gone[0]["id"]] == 1
    assert sum(d["state"] == "done" for d in deliveries(client, tenant)) == len(items) - asked + 1


def test_a_hanging_receiver_times_out_and_the_same_id_is_sent_again(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    configure(client, tenant, receiver)
    send(client, tenant, n=1)
    receiver.mode, receiver.hang_seconds = "hang", 4
    catch_up(services)
    assert services.webhooks is not None
    services.webhooks.deliver_once()  # the message's first change: 103 Funded
    [first] = [d for d in deliveries(client, tenant) if d["attempts"]]
    [attempt] = first["attempts"]
    assert attempt["status_code"] is None
    assert "no answer" in attempt["error"]
    assert attempt["latency_ms"] >= 1500
    receiver.mode = "ok"
    deliver(services, clock, rounds=3, step=60)
    assert receiver.ids[first["id"]] == 1


def test_after_a_rotation_both_secrets_sign_for_24_hours(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    old = configure(client, tenant, receiver)
    new = configure(client, tenant, receiver)
    assert old != new
    # A receiver that only knows the old secret still verifies every callback.
    receiver.secrets = [old]
    send(client, tenant, n=1)
    deliver(services, clock, rounds=2, step=60)
    assert receiver.received
    assert {r.signatures for r in receiver.received} == {2}
    assert receiver.forged == 0
    info = client.get(f"/v1/accounts/{tenant.id}/webhook", headers=tenant.as_("admin")).json()
    assert "secret" not in info
    assert info["previous_secret_valid_until"] is not None
    # A day later only the new one signs.
    clock.advance(hours=25)
    receiver.secrets = [new]
    count = len(receiver.received)
    send(client, tenant, n=1, reference="later")
    deliver(services, clock, rounds=2, step=60)
    assert len(receiver.received) > count
    assert {r.signatures for r in receiver.received[count:]} == {1}


def test_a_batch_status_callback_gets_that_batch_and_the_webhook_none_of_it(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    # Without a webhook there is no secret to sign with: 409.
    r = client.post(
        "/v1/messages",
        json={
            "sender": "Acme",
            "recipients": SE[:1],
            "body": "hi",
            "status_callback": receiver.url,
        },
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 409, r.text
    with receiving("/batch") as batch_receiver:
        # events [] keeps only the secret; the batch names its own URL.
        secret = configure(client, tenant, receiver, events=[])
        batch_receiver.secrets.append(secret)
        sent = send(client, tenant, n=2, status_callback=batch_receiver.url)
        send(client, tenant, n=1, reference="no-callback")
        deliver(services, clock)
        assert not receiver.received
        assert {b.body["batch_id"] for b in batch_receiver.received} == {sent["batch_id"]}
        assert len(batch_receiver.ids) >= 10
        assert batch_receiver.forged == 0


def test_metrics_count_callbacks_failures_and_the_oldest_waiting(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    configure(client, tenant, receiver)
    send(client, tenant, n=1)
    receiver.mode = "fail"
    deliver(services, clock, rounds=2, step=60)
    text = client.get("/metrics", headers=OPERATOR).text
    waiting = len(deliveries(client, tenant))
    assert waiting >= 2
    assert f'smsledger_webhook_callbacks{{state="pending"}} {waiting}.0' in text
    assert "smsledger_webhook_failures_total" in text
    oldest = next(
        line for line in text.splitlines() if line.startswith("smsledger_webhook_oldest_pending")
    )
    assert float(oldest.split()[-1]) >= 60
    receiver.mode = "ok"
    deliver(services, clock, rounds=6, step=120)
    text = client.get("/metrics", headers=OPERATOR).text
    done = len(deliveries(client, tenant))
    assert f'smsledger_webhook_callbacks{{state="done"}} {done}.0' in text
    assert "smsledger_webhook_oldest_pending_seconds 0.0" in text


def test_deliveries_page_with_a_cursor(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    configure(client, tenant, receiver)
    send(client, tenant, n=2)
    deliver(services, clock)
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        url = f"/v1/accounts/{tenant.id}/webhook/deliveries?limit=5"
        r = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=tenant.as_("support"))
        assert r.status_code == 200, r.text
        seen += [d["id"] for d in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    everything = [d["id"] for d in deliveries(client, tenant)]
    assert len(everything) >= 10
    assert seen == everything
    bad = client.get(
        f"/v1/accounts/{tenant.id}/webhook/deliveries?cursor=bm90LW91cnM",
        headers=tenant.as_("admin"),
    )
    assert bad.status_code == 422


def test_another_accounts_webhook_and_deliveries_are_unknown_and_no_secret_shows(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    ours = open_tenant(client, name="Ours", top_up=10_000)
    theirs = open_tenant(client, name="Theirs")
    secret = configure(client, ours, receiver)
    send(client, ours, n=1)
    deliver(services, clock, rounds=2)
    [item, *_] = deliveries(client, ours)
    base = f"/v1/accounts/{ours.id}/webhook"
    calls = [
        ("GET", base, None),
        ("PUT", base, {"url": receiver.url}),
        ("DELETE", base, None),
        ("GET", base + "/deliveries", None),
        ("POST", base + f"/deliveries/{item['id']}/resend", None),
    ]
    for method, url, body in calls:
        for role in ("admin", "support"):
            r = client.request(method, url, json=body, headers=theirs.as_(role))
            expected = 404 if role == "admin" or url.endswith("/deliveries") else 403
            assert r.status_code == expected, (method, url, role, r.text)
            problem_of(r)
        for role in ("sender", "finance"):
            r = client.request(method, url, json=body, headers=ours.as_(role))
            assert r.status_code == 403, (method, url, role)
    # Their own id on our delivery is as unknown as a made-up one.
    r = client.post(
        f"/v1/accounts/{theirs.id}/webhook/deliveries/{item['id']}/resend",
        headers=theirs.as_("admin"),
    )
    assert r.status_code == 404
    # The secret is never in a read, ours or theirs.
    for r in (
        client.get(base, headers=ours.as_("admin")),
        client.get(base + "/deliveries", headers=ours.as_("support")),
        client.get(base, headers=OPERATOR),
    ):
        assert r.status_code == 200
        assert secret not in r.text
        assert "whsec_" not in r.text


def test_delete_stops_the_callbacks(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    configure(client, tenant, receiver)
    r = client.delete(f"/v1/accounts/{tenant.id}/webhook", headers=tenant.as_("admin"))
    assert r.status_code == 204
    assert (
        client.get(f"/v1/accounts/{tenant.id}/webhook", headers=tenant.as_("admin")).status_code
        == 404
    )
    assert (
        client.delete(f"/v1/accounts/{tenant.id}/webhook", headers=tenant.as_("admin")).status_code
        == 404
    )
    send(client, tenant, n=1)
    deliver(services, clock, rounds=2)
    assert receiver.requests == 0
    assert deliveries(client, tenant) == []


BAD_URLS = [
    "ftp://example.com/hook",
    "example.com/hook",
    "http:///no-host",
    "http://user:pw@example.com/hook",
    "http://user@example.com/hook",
    "http://exa\x00mple.com/hook",
    "http://example.com/\nhook",
    "http://example.com/" + "a" * 2001,
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://0.0.0.0:9000/",
    "http://224.0.0.1/",
    "http://example.com:99999/",
]
PRIVATE_URLS = [
    "http://127.0.0.1:9000/hook",
    "http://localhost:9000/hook",
    "http://10.1.2.3/hook",
    "http://192.168.1.10/hook",
    "http://[::1]:9000/hook",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_url_is_422_even_with_loopback_allowed(
    client: TestClient, url: str, receiver: Receiver
) -> None:
    tenant = open_tenant(client)
    r = client.put(
        f"/v1/accounts/{tenant.id}/webhook", json={"url": url}, headers=tenant.as_("admin")
    )
    assert r.status_code == 422, r.text
    problem_of(r)
    configure(client, tenant, receiver)
    r = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": SE[:1], "body": "hi", "status_callback": url},
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 422, r.text


def test_bad_events_are_422(client: TestClient, receiver: Receiver) -> None:
    tenant = open_tenant(client)
    for events in (["message.other"], ["message.status", "message.status"], "message.status", [1]):
        r = client.put(
            f"/v1/accounts/{tenant.id}/webhook",
            json={"url": receiver.url, "events": events},
            headers=tenant.as_("admin"),
        )
        assert r.status_code == 422, (events, r.text)


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_and_loopback_targets_need_the_operator_setting(
    database: Database, clock: FakeClock, url: str
) -> None:
    settings = Settings(operator_token=OPERATOR_TOKEN, gateway="none", workers="none")
    built = build(settings, database=database, clock=clock)
    try:
        with TestClient(create_app(built)) as c:
            tenant = open_tenant(c)
            r = c.put(
                f"/v1/accounts/{tenant.id}/webhook", json={"url": url}, headers=tenant.as_("admin")
            )
            assert r.status_code == 422, r.text
            assert "loopback or private" in problem_of(r)["detail"]
    finally:
        built.close()


def test_two_workers_together_keep_the_per_endpoint_limit(
    client: TestClient, services: Services, clock: FakeClock, receiver: Receiver
) -> None:
    # Two delivering workers, one endpoint, a slow receiver: never more in flight than
    # the limit, and every change delivered once.
    tenant = open_tenant(client, top_up=10_000)
    configure(client, tenant, receiver)
    send(client, tenant, n=3)
    deliver(services, clock, rounds=6, step=30)  # every change into the outbox, sent
    receiver.received.clear()
    for d in deliveries(client, tenant):
        r = client.post(
            f"/v1/accounts/{tenant.id}/webhook/deliveries/{d['id']}/resend",
            headers=tenant.as_("admin"),
        )
        assert r.status_code == 202
    receiver.delay, receiver.max_in_flight = 0.2, 0
    limit = services.settings.webhook_concurrency
    workers = [webhook_worker(services, follow=False) for _ in range(2)]

    def drain(worker: WebhookWorker) -> None:
        for _ in range(50):
            worker.deliver_once()

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert 2 <= receiver.max_in_flight <= limit
    assert set(receiver.ids) == {d["id"] for d in deliveries(client, tenant)}
    assert set(receiver.ids.values()) == {1}
