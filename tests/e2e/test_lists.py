"""The lists an operator and an admin page through, on both databases: accounts, an
account's keys (never a secret), its invoices, one batch with its messages' statuses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.e2e.conftest import OPERATOR, catch_up, open_tenant, problem_of

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services
    from tests.support import FakeClock

SE = "+46701234567"


def pages(client: TestClient, url: str, headers: dict[str, str], limit: int) -> list[list[Any]]:
    """Every page of a cursor list, following next_cursor to the end (bounded)."""
    found: list[list[Any]] = []
    cursor = None
    for _ in range(50):
        sep = "&" if "?" in url else "?"
        page_url = f"{url}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        r = client.get(page_url, headers=headers)
        assert r.status_code == 200, r.text
        found.append(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the cursor never ended")


def test_operator_pages_through_every_account_and_an_admin_sees_only_its_own(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenants = []
    for name in ("Alpha", "Beta", "Gamma"):
        tenants.append(open_tenant(client, name=name, top_up=500))
        clock.advance(seconds=1)
    catch_up(services)
    # Oldest first, two a page, each once.
    got = pages(client, "/v1/accounts", OPERATOR, limit=2)
    assert [len(p) for p in got] == [2, 1]
    assert [a["name"] for p in got for a in p] == ["Alpha", "Beta", "Gamma"]
    assert [a["balance"] for p in got for a in p] == [500, 500, 500]
    # An admin's list is its own account only; other roles may not list.
    r = client.get("/v1/accounts", headers=tenants[1].as_("admin"))
    assert [a["id"] for a in r.json()["items"]] == [tenants[1].id]
    assert "Alpha" not in r.text
    assert "Gamma" not in r.text
    for role in ("sender", "support", "finance"):
        assert client.get("/v1/accounts", headers=tenants[1].as_(role)).status_code == 403
    for bad in ("cursor=bm90LW91cnM", "limit=0", "limit=1001", "limit=true"):
        r = client.get(f"/v1/accounts?{bad}", headers=OPERATOR)
        assert r.status_code == 422, (bad, r.text)
        problem_of(r)


def test_an_admin_lists_its_keys_without_any_secret(client: TestClient, clock: FakeClock) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}/keys"
    clock.advance(seconds=5)
    client.delete(f"{url}/{tenant.key_ids['support']}", headers=tenant.as_("admin"))
    got = pages(client, url, tenant.as_("admin"), limit=3)
    keys = [k for p in got for k in p]
    assert [len(p) for p in got] == [3, 1]
    assert sorted(k["role"] for k in keys) == ["admin", "finance", "sender", "support"]
    revoked = {k["role"]: k["revoked_at"] for k in keys}
    assert revoked["support"] == "2026-11-02T09:00:05Z"
    assert revoked["sender"] is None
    # Never the key itself, nor anything of it.
    text = client.get(url, headers=OPERATOR).text
    assert all(secret not in text for secret in tenant.keys.values())
    assert all(set(k) == {"id", "role", "created_at", "revoked_at"} for k in keys)
    # Another account's admin: 404, exactly as for an unknown account.
    other = open_tenant(client, name="Other")
    assert client.get(url, headers=other.as_("admin")).status_code == 404
    assert client.get(url, headers=tenant.as_("sender")).status_code == 403


def test_invoices_list_newest_first_with_the_totals_of_each_invoice(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client, payment_model="post_invoice")
    send = {"sender": "Acme", "recipients": [SE, SE], "body": "Hello"}
    client.post("/v1/messages", json=send, headers=tenant.as_("sender"))
    clock.advance(days=30)  # December in Stockholm
    client.post("/v1/messages", json={**send, "recipients": [SE]}, headers=tenant.as_("sender"))
    catch_up(services)
    url = f"/v1/accounts/{tenant.id}/invoices"
    r = client.post(f"{url}/2026-11/issue", headers=OPERATOR)
    assert r.status_code == 200, r.text
    got = pages(client, url, tenant.as_("finance"), limit=1)
    invoices = [i for p in got for i in p]
    assert [(i["period"], i["status"], i["total"]) for i in invoices] == [
        ("2026-12", "open", 45),
        ("2026-11", "issued", 90),
    ]
    assert invoices[1]["issued_at"] == "2026-12-02T09:00:00Z"
    for inv in invoices:
        one = client.get(f"{url}/{inv['period']}", headers=tenant.as_("finance")).json()
        assert one["total"] == inv["total"]
    other = open_tenant(client, name="Other")
    assert client.get(url, headers=other.as_("finance")).status_code == 404
    assert client.get(url, headers=tenant.as_("sender")).status_code == 403


def test_a_batch_shows_its_receipt_and_where_its_messages_are_now(
    client: TestClient, services: Services
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    r = client.post(
        "/v1/messages",
        json={
            "sender": "Acme",
            "recipients": [SE, "+46701234568", "12"],
            "body": "Hello",
            "reference": "order-7",
        },
        headers=tenant.as_("sender"),
    )
    batch_id = r.json()["batch_id"]
    catch_up(services)
    url = f"/v1/batches/{batch_id}"
    r = client.get(f"{url}?limit=2", headers=tenant.as_("support"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reference"] == "order-7"
    assert body["recipients"] == 3
    assert body["total_price"] == 90
    assert body["created_at"] == "2026-11-02T09:00:00Z"
    assert [(s["code"], s["count"]) for s in body["statuses"]] == [(103, 2), (409, 1)]
    assert len(body["items"]) == 2
    rest = client.get(f"{url}?limit=2&cursor={body['next_cursor']}", headers=OPERATOR).json()
    assert [m["status"]["code"] for m in rest["items"]] == [409]
    assert rest["next_cursor"] is None
    # Another account's sender, and an unknown batch, read the same: 404.
    other = open_tenant(client, name="Other")
    foreign = client.get(url, headers=other.as_("sender"))
    unknown = client.get("/v1/batches/00000000-0000-4000-8000-000000000000", headers=OPERATOR)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["detail"] == unknown.json()["detail"]
    assert client.get(url, headers=tenant.as_("finance")).status_code == 403
