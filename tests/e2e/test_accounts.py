"""Accounts, keys, payment models and top-ups over HTTP, on both databases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.conftest import OPERATOR, bearer, open_tenant, problem_of

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def test_operator_opens_an_account_and_gets_its_admin_key(client: TestClient) -> None:
    r = client.post(
        "/v1/accounts",
        json={"name": "Acme", "payment_model": "balance", "currency": "SEK"},
        headers=OPERATOR,
    )
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "Acme"
    assert body["payment_model"] == "balance"
    assert body["currency"] == "SEK"
    assert body["timezone"] == "Europe/Stockholm"
    assert body["balance"] == 0
    assert body["admin_key"].startswith("sk_admin_")
    assert int(r.headers["X-Ledger-Position"]) > 0
    # The admin key reads its own account.
    got = client.get(f"/v1/accounts/{body['id']}", headers=bearer(body["admin_key"]))
    assert got.status_code == 200
    assert got.json() == {k: v for k, v in body.items() if k != "admin_key"}


def test_account_takes_a_time_zone(client: TestClient) -> None:
    r = client.post(
        "/v1/accounts",
        json={"name": "Oslo AS", "payment_model": "post_invoice", "timezone": "Europe/Oslo"},
        headers=OPERATOR,
    )
    assert r.status_code == 201
    assert r.json()["timezone"] == "Europe/Oslo"
    assert r.json()["payment_model"] == "post_invoice"


def test_bad_account_input_is_422(client: TestClient) -> None:
    for body in (
        {"name": "", "payment_model": "balance"},
        {"name": "A", "payment_model": "prepaid"},
        {"name": "A", "payment_model": "balance", "timezone": "Mars/Olympus"},
        {"name": "A", "payment_model": "balance", "currency": "sek"},
        {"name": "A", "payment_model": "balance", "currency": "XYZ"},
        {"name": 5, "payment_model": "balance"},
        {"name": "A", "payment_model": "balance", "extra": 1},
    ):
        r = client.post("/v1/accounts", json=body, headers=OPERATOR)
        assert r.status_code == 422, (body, r.text)
        problem_of(r)


def test_only_the_operator_opens_accounts(client: TestClient) -> None:
    tenant = open_tenant(client)
    for role in ("admin", "sender", "support", "finance"):
        r = client.post(
            "/v1/accounts",
            json={"name": "X", "payment_model": "balance"},
            headers=tenant.as_(role),
        )
        assert r.status_code == 403
        problem_of(r)


def test_no_or_bad_token_is_401(client: TestClient) -> None:
    for headers in ({}, bearer("nope"), bearer("sk_admin_forged"), {"Authorization": "Basic x"}):
        r = client.post(
            "/v1/accounts", json={"name": "X", "payment_model": "balance"}, headers=headers
        )
        assert r.status_code == 401
        assert problem_of(r)["status"] == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_top_up_credits_once_per_reference(client: TestClient) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}/top-ups"
    first = client.post(url, json={"amount": 10_000, "reference": "shop-1"}, headers=OPERATOR)
    assert first.status_code == 201
    assert first.json() == {"balance": 10_000}
    position = int(first.headers["X-Ledger-Position"])
    # The same reference again: 200, no second credit.
    again = client.post(url, json={"amount": 10_000, "reference": "shop-1"}, headers=OPERATOR)
    assert again.status_code == 200
    assert again.json() == {"balance": 10_000}
    assert int(again.headers["X-Ledger-Position"]) >= position
    # Same reference, other amount: a conflict.
    other = client.post(url, json={"amount": 5, "reference": "shop-1"}, headers=OPERATOR)
    assert other.status_code == 409
    problem_of(other)
    account = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("finance")).json()
    assert account["balance"] == 10_000


def test_bad_top_ups_are_422(client: TestClient) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}/top-ups"
    for body in (
        {"amount": 0, "reference": "r"},
        {"amount": -5, "reference": "r"},
        {"amount": 1.5, "reference": "r"},
        {"amount": "100", "reference": ""},
        {"amount": 10**40, "reference": "r"},
        {"amount": 100},
    ):
        r = client.post(url, json=body, headers=OPERATOR)
        assert r.status_code == 422, (body, r.text)


def test_post_invoiced_account_has_no_top_up(client: TestClient) -> None:
    tenant = open_tenant(client, payment_model="post_invoice")
    r = client.post(
        f"/v1/accounts/{tenant.id}/top-ups",
        json={"amount": 100, "reference": "r"},
        headers=OPERATOR,
    )
    assert r.status_code == 409


def test_a_top_up_retried_after_the_move_to_post_invoicing_answers_as_at_first(
    client: TestClient,
) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}/top-ups"
    first = client.post(url, json={"amount": 10_000, "reference": "shop-1"}, headers=OPERATOR)
    assert (first.status_code, first.json()) == (201, {"balance": 10_000})
    # Money moves after it: a send takes some of the balance.
    sent = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": ["+46731234567"], "body": "hi"},
        headers=tenant.as_("sender"),
    )
    assert sent.status_code == 202
    moved = client.put(
        f"/v1/accounts/{tenant.id}/payment-model",
        json={"payment_model": "post_invoice"},
        headers=OPERATOR,
    )
    assert moved.status_code == 200
    # The shop's retry of the same top-up: the first answer again, no credit.
    again = client.post(url, json={"amount": 10_000, "reference": "shop-1"}, headers=OPERATOR)
    assert (again.status_code, again.json()) == (200, first.json())
    # The same reference with another amount is still a conflict, and a new top-up is
    # refused on post-invoicing.
    other = client.post(url, json={"amount": 5, "reference": "shop-1"}, headers=OPERATOR)
    assert other.status_code == 409
    problem_of(other)
    new = client.post(url, json={"amount": 100, "reference": "shop-2"}, headers=OPERATOR)
    assert new.status_code == 409
    balance = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("finance")).json()
    assert balance["balance"] == 10_000 - sent.json()["total_price"]


def test_top_up_of_unknown_account_is_404(client: TestClient) -> None:
    r = client.post(
        "/v1/accounts/00000000-0000-4000-8000-000000000000/top-ups",
        json={"amount": 100, "reference": "r"},
        headers=OPERATOR,
    )
    assert r.status_code == 404
    problem_of(r)


def test_admin_changes_the_payment_model(client: TestClient) -> None:
    tenant = open_tenant(client)
    r = client.put(
        f"/v1/accounts/{tenant.id}/payment-model",
        json={"payment_model": "post_invoice"},
        headers=tenant.as_("admin"),
    )
    assert r.status_code == 200
    assert r.json()["payment_model"] == "post_invoice"
    assert "X-Ledger-Position" in r.headers
    for role in ("sender", "support", "finance"):
        r = client.put(
            f"/v1/accounts/{tenant.id}/payment-model",
            json={"payment_model": "balance"},
            headers=tenant.as_(role),
        )
        assert r.status_code == 403


def test_every_account_role_reads_its_account(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=500)
    for role in ("admin", "sender", "support", "finance"):
        r = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_(role))
        assert r.status_code == 200
        assert r.json()["balance"] == 500
    assert client.get(f"/v1/accounts/{tenant.id}", headers=OPERATOR).status_code == 200


def test_admin_issues_keys_for_each_account_role(client: TestClient) -> None:
    tenant = open_tenant(client)
    for role in ("admin", "sender", "support", "finance"):
        r = client.post(
            f"/v1/accounts/{tenant.id}/keys", json={"role": role}, headers=tenant.as_("admin")
        )
        assert r.status_code == 201
        assert r.json()["role"] == role
        assert r.json()["key"].startswith(f"sk_{role}_")
    for bad in ("operator", "gateway", "root", ""):
        r = client.post(
            f"/v1/accounts/{tenant.id}/keys", json={"role": bad}, headers=tenant.as_("admin")
        )
        assert r.status_code == 422
    for role in ("sender", "support", "finance"):
        r = client.post(
            f"/v1/accounts/{tenant.id}/keys", json={"role": "admin"}, headers=tenant.as_(role)
        )
        assert r.status_code == 403


def test_a_revoked_key_stops_working_at_once(client: TestClient) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}"
    assert client.get(url, headers=tenant.as_("sender")).status_code == 200
    r = client.delete(f"{url}/keys/{tenant.key_ids['sender']}", headers=tenant.as_("admin"))
    assert r.status_code == 204
    assert client.get(url, headers=tenant.as_("sender")).status_code == 401
    # Revoking again: there is no such live key.
    r = client.delete(f"{url}/keys/{tenant.key_ids['sender']}", headers=OPERATOR)
    assert r.status_code == 404
    # The operator revokes too.
    r = client.delete(f"{url}/keys/{tenant.key_ids['support']}", headers=OPERATOR)
    assert r.status_code == 204
    assert client.get(url, headers=tenant.as_("support")).status_code == 401


def test_keys_are_stored_only_as_hashes(client: TestClient, services: object) -> None:
    from smsledger.bootstrap import Services

    assert isinstance(services, Services)
    tenant = open_tenant(client)
    with services.views.reading() as cur:
        cur.execute("SELECT key_hash FROM api_keys")
        hashes = [row[0] for row in cur.fetchall()]
    assert len(hashes) == 4
    for key in tenant.keys.values():
        assert key not in hashes
        assert all(key not in h for h in hashes)


def test_gateway_keys(client: TestClient) -> None:
    r = client.post("/v1/gateway-keys", headers=OPERATOR)
    assert r.status_code == 201
    key = r.json()
    assert key["role"] == "gateway"
    assert key["key"].startswith("sk_gateway_")
    # A gateway key is no account role: it reads no account.
    tenant = open_tenant(client)
    assert client.get(f"/v1/accounts/{tenant.id}", headers=bearer(key["key"])).status_code == 403
    assert client.post("/v1/gateway-keys", headers=tenant.as_("admin")).status_code == 403
    # Revoked: 401 from then on.
    assert client.delete(f"/v1/gateway-keys/{key['id']}", headers=OPERATOR).status_code == 204
    assert (
        client.post(
            "/v1/delivery-reports", json={"reports": []}, headers=bearer(key["key"])
        ).status_code
        == 401
    )
