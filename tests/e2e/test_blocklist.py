"""The block list over HTTP: a blocked number's message gets 405."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.conftest import OPERATOR, open_tenant, problem_of

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def test_block_send_unblock(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    url = f"/v1/accounts/{tenant.id}/blocklist"
    # Block a number written without "+".
    r = client.post(url, json={"msisdn": "46731234567"}, headers=tenant.as_("admin"))
    assert r.status_code == 201
    assert int(r.headers["X-Ledger-Position"]) > 0
    items = r.json()["items"]
    assert [(i["msisdn"], i["source"]) for i in items] == [("+46731234567", "manual")]
    assert items[0]["added_at"].startswith("2026-11-02T09:00:00")
    # Again: already there.
    again = client.post(url, json={"msisdn": "+46731234567"}, headers=OPERATOR)
    assert again.status_code == 200
    assert again.json()["items"] == items
    # Support reads it; a message to the number is rejected with 405.
    assert client.get(url, headers=tenant.as_("support")).json()["items"] == items
    batch = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": ["+46731234567"], "body": "hi"},
        headers=tenant.as_("sender"),
    ).json()
    assert batch["messages"][0]["status"]["code"] == 405
    # Unblock.
    r = client.delete(f"{url}/+46731234567", headers=tenant.as_("admin"))
    assert r.status_code == 200
    assert r.json() == {"items": []}
    assert "X-Ledger-Position" in r.headers
    r = client.delete(f"{url}/+46731234567", headers=tenant.as_("admin"))
    assert r.status_code == 404
    problem_of(r)


def test_blocklist_roles_and_bad_numbers(client: TestClient) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}/blocklist"
    for role in ("sender", "finance"):
        assert client.get(url, headers=tenant.as_(role)).status_code == 403
    for role in ("sender", "support", "finance"):
        r = client.post(url, json={"msisdn": "+46731234567"}, headers=tenant.as_(role))
        assert r.status_code == 403
        assert client.delete(f"{url}/+46731234567", headers=tenant.as_(role)).status_code == 403
    for bad in ("12", "not a number", "", "+" + "9" * 40):
        r = client.post(url, json={"msisdn": bad}, headers=tenant.as_("admin"))
        assert r.status_code == 422, (bad, r.text)
        problem_of(r)
    assert client.delete(f"{url}/abc", headers=tenant.as_("admin")).status_code == 422
