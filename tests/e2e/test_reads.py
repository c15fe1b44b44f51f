"""Projected reads over HTTP: message lists, histories, the ledger, invoices, reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.e2e.conftest import OPERATOR, Tenant, catch_up, open_tenant, problem_of

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services
    from tests.support import FakeClock

NUMBERS = ["+46731234567", "+46731234568", "+46731234569"]


def send(client: TestClient, tenant: Tenant, recipients: list[str], **extra: Any) -> dict[str, Any]:
    r = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": recipients, "body": "Hello", **extra},
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    body["position"] = r.headers["X-Ledger-Position"]
    return body


def test_list_messages_with_filters_and_cursor(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client, top_up=100_000)
    first = send(client, tenant, NUMBERS)
    clock.advance(minutes=5)
    second = send(client, tenant, [NUMBERS[0], "12"])
    catch_up(services)
    h = tenant.as_("sender")

    everything = client.get("/v1/messages", headers=h).json()
    assert len(everything["items"]) == 5
    assert everything["next_cursor"] is None
    assert [m["id"] for m in everything["items"][:3]] == [m["id"] for m in first["messages"]]

    # A batch, a status, a group, a recipient written without "+", a time window.
    def ids(query: str) -> list[str]:
        r = client.get(f"/v1/messages?{query}", headers=h)
        assert r.status_code == 200, r.text
        return [m["id"] for m in r.json()["items"]]

    assert ids(f"batch_id={second['batch_id']}") == [m["id"] for m in second["messages"]]
    assert len(ids("status=103")) == 4
    assert ids("status=409") == [second["messages"][1]["id"]]
    assert len(ids("group=Rejection")) == 1
    assert len(ids("recipient=46731234567")) == 2
    after = datetime(2026, 11, 2, 9, 1, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    assert ids(f"created_after={after}") == [m["id"] for m in second["messages"]]
    assert len(ids(f"created_before={after}")) == 3

    # Pages of two: every message exactly once, in order.
    seen, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/messages?{query}", headers=h).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [m["id"] for m in everything["items"]]

    for bad in (
        "limit=0",
        "limit=1001",
        "cursor=garbage",
        "status=abc",
        "group=Nope",
        "created_after=yesterday",
        "created_after=0001-01-01T00:00:00%2B14:00",
        "created_before=9999-12-31T23:59:59-14:00",
        "created_after=2026-11-02T09:00:00",
        "batch_id=1",
    ):
        r = client.get(f"/v1/messages?{bad}", headers=h)
        assert r.status_code == 422, (bad, r.text)
        problem_of(r)


def test_list_roles(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client, top_up=100_000)
    other = open_tenant(client, name="Other", top_up=100_000)
    send(client, tenant, NUMBERS[:1])
    send(client, other, NUMBERS[:2])
    catch_up(services)
    for role in ("sender", "admin", "support"):
        r = client.get("/v1/messages", headers=tenant.as_(role))
        assert r.status_code == 200
        assert {m["account_id"] for m in r.json()["items"]} == {tenant.id}
    assert client.get("/v1/messages", headers=tenant.as_("finance")).status_code == 403
    everyone = client.get("/v1/messages", headers=OPERATOR).json()["items"]
    assert len(everyone) == 3
    only_other = client.get(f"/v1/messages?account_id={other.id}", headers=OPERATOR).json()
    assert {m["account_id"] for m in only_other["items"]} == {other.id}


def test_read_your_writes_with_min_position(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client, top_up=100_000)
    batch = send(client, tenant, NUMBERS[:1])
    message_id = batch["messages"][0]["id"]
    # Projections run in the background, as under `serve`.
    services.start_workers()
    try:
        r = client.get(
            f"/v1/messages/{message_id}",
            headers={**tenant.as_("sender"), "X-Ledger-Min-Position": batch["position"]},
        )
        assert r.status_code == 200
        assert r.json()["status"]["code"] == 103
    finally:
        services.stop_workers()


def test_history_from_the_event_store(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client, top_up=100_000)
    message_id = send(client, tenant, NUMBERS[:1])["messages"][0]["id"]
    clock.advance(minutes=1)
    client.post(f"/v1/messages/{message_id}/cancel", headers=tenant.as_("sender"))
    url = f"/v1/messages/{message_id}/history"
    for headers in (tenant.as_("support"), tenant.as_("admin"), OPERATOR):
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        history = r.json()
        assert history["message_id"] == message_id
        assert history["status"]["code"] == 203
        types = [e["type"] for e in history["events"]]
        assert types[0] == "Accepted"
        assert "Canceled" in types
        assert [e["version"] for e in history["events"]] == sorted(
            e["version"] for e in history["events"]
        )
    # As of before the cancel: still Funded.
    r = client.get(
        url, params={"as_of": "2026-11-02T09:00:30+00:00"}, headers=tenant.as_("support")
    )
    assert r.json()["status"]["code"] == 103
    r = client.get(
        url, params={"as_of": "2026-11-01T00:00:00+00:00"}, headers=tenant.as_("support")
    )
    assert r.json()["status"] is None
    for bad in ("yesterday", "2026-11-02T09:00:00", "0001-01-01T00:00:00+14:00"):
        r = client.get(url, params={"as_of": bad}, headers=tenant.as_("support"))
        assert r.status_code == 422, (bad, r.text)
    for role in ("sender", "finance"):
        assert client.get(url, headers=tenant.as_(role)).status_code == 403


def test_ledger_entries(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client, top_up=100_000)
    batch = send(client, tenant, NUMBERS[:2])
    catch_up(services)
    url = f"/v1/accounts/{tenant.id}/ledger"
    for headers in (tenant.as_("finance"), tenant.as_("admin"), OPERATOR):
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        entries = r.json()["entries"]
        assert entries[0]["kind"] == "top_up"
        assert entries[0]["amount"] == 100_000
        assert entries[0]["reference"] == "initial-Acme"
        assert entries[-1]["balance_after"] == 100_000 - batch["total_price"]
        assert all(e["kind"] in ("top_up", "charge") for e in entries)
    page = client.get(f"{url}?period=2026-11&limit=1", headers=tenant.as_("finance")).json()
    assert len(page["entries"]) == 1
    assert page["next_cursor"]
    rest = client.get(
        f"{url}?period=2026-11&cursor={page['next_cursor']}", headers=tenant.as_("finance")
    ).json()
    assert rest["entries"][0]["seq"] > page["entries"][0]["seq"]
    assert client.get(f"{url}?period=2026-10", headers=OPERATOR).json()["entries"] == []
    assert client.get(f"{url}?period=2026-13", headers=OPERATOR).status_code == 422
    for role in ("sender", "support"):
        assert client.get(url, headers=tenant.as_(role)).status_code == 403


def test_invoice_then_issue_after_the_month(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client, payment_model="post_invoice")
    send(client, tenant, NUMBERS)
    catch_up(services)
    url = f"/v1/accounts/{tenant.id}/invoices/2026-11"
    for headers in (tenant.as_("finance"), tenant.as_("admin"), OPERATOR):
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        invoice = r.json()
        assert invoice["account_id"] == tenant.id
        assert invoice["period"] == "2026-11"
        assert invoice["status"] == "open"
        assert invoice["currency"] == "SEK"
        assert invoice["total"] == sum(line["amount"] for line in invoice["lines"]) > 0
        assert {line["kind"] for line in invoice["lines"]} == {"sms"}
    # Before the month has ended: a conflict.
    r = client.post(f"{url}/issue", headers=tenant.as_("finance"))
    assert r.status_code == 409
    problem_of(r)
    # In December it can be issued, once.
    clock.set(datetime(2026, 12, 1, 0, 30, tzinfo=UTC))
    r = client.post(f"{url}/issue", headers=tenant.as_("finance"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "issued"
    assert int(r.headers["X-Ledger-Position"]) > 0
    again = client.post(f"{url}/issue", headers=OPERATOR)
    assert again.status_code == 200
    assert again.json() == r.json()
    for role in ("sender", "support", "admin"):
        assert client.post(f"{url}/issue", headers=tenant.as_(role)).status_code == 403
    for role in ("sender", "support"):
        assert client.get(url, headers=tenant.as_(role)).status_code == 403
    assert (
        client.get(f"/v1/accounts/{tenant.id}/invoices/2026-1", headers=OPERATOR).status_code == 422
    )


def test_reconciliation(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client, top_up=100_000)
    other = open_tenant(client, name="Other", payment_model="post_invoice")
    send(client, tenant, NUMBERS)
    send(client, other, NUMBERS[:1])
    catch_up(services)
    everyone = client.get("/v1/reconciliation?period=2026-11", headers=OPERATOR)
    assert everyone.status_code == 200, everyone.text
    report = everyone.json()
    assert report["period"] == "2026-11"
    assert report["ok"] is True
    assert {a["account_id"] for a in report["accounts"]} == {tenant.id, other.id}
    own = client.get("/v1/reconciliation?period=2026-11", headers=tenant.as_("finance")).json()
    assert [a["account_id"] for a in own["accounts"]] == [tenant.id]
    mine = own["accounts"][0]
    assert mine["top_ups"] == 100_000
    assert mine["messages_charged"] == 3
    assert mine["discrepancies"] == []
    r = client.get(
        f"/v1/reconciliation?period=2026-11&account_id={other.id}", headers=tenant.as_("finance")
    )
    assert r.status_code == 404
    for role in ("admin", "sender", "support"):
        r = client.get("/v1/reconciliation?period=2026-11", headers=tenant.as_(role))
        assert r.status_code == 403
    assert client.get("/v1/reconciliation", headers=OPERATOR).status_code == 422
    assert client.get("/v1/reconciliation?period=26-11", headers=OPERATOR).status_code == 422


def test_metrics_count_messages_by_status(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client, top_up=100_000)
    send(client, tenant, [*NUMBERS, "12"])
    catch_up(services)
    text = client.get("/metrics", headers=OPERATOR).text
    assert 'smsledger_messages{name="Funded",status="103"} 3.0' in text
    assert 'smsledger_messages{name="InvalidRecipient",status="409"} 1.0' in text
    for projection in services.runner.projections:
        assert f'smsledger_projection_lag{{projection="{projection.name}"}} 0.0' in text
