"""The isolation matrix: every endpoint × every account role × another account's ids.

An account role reaching another account's resource gets 404 (or 403 where its role
may not call the endpoint at all), never data and never a hint that the id exists;
a list comes back empty. Afterwards the other account is exactly as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import OPERATOR, Tenant, catch_up, open_tenant

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services

ACCOUNT_ROLES = ("admin", "sender", "support", "finance")
UNKNOWN = "00000000-0000-4000-8000-000000000000"

# method, path template, JSON body. {a} the victim account, {m} its message, {k} its
# sender key's id, {b} its batch.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/accounts/{a}", None),
    ("POST", "/v1/accounts/{a}/keys", {"role": "admin"}),
    ("DELETE", "/v1/accounts/{a}/keys/{k}", None),
    ("PUT", "/v1/accounts/{a}/payment-model", {"payment_model": "post_invoice"}),
    ("POST", "/v1/accounts/{a}/top-ups", {"amount": 100, "reference": "steal"}),
    ("GET", "/v1/messages/{m}", None),
    ("GET", "/v1/messages/{m}/history", None),
    ("POST", "/v1/messages/{m}/cancel", None),
    ("GET", "/v1/accounts/{a}/ledger", None),
    ("GET", "/v1/accounts/{a}/invoices/2026-11", None),
    ("POST", "/v1/accounts/{a}/invoices/2026-10/issue", None),
    ("GET", "/v1/reconciliation?period=2026-11&account_id={a}", None),
    ("GET", "/v1/accounts/{a}/blocklist", None),
    ("POST", "/v1/accounts/{a}/blocklist", {"msisdn": "+46731234599"}),
    ("DELETE", "/v1/accounts/{a}/blocklist/+46731234590", None),
    ("GET", "/v1/accounts/{a}/keys", None),
    ("GET", "/v1/accounts/{a}/invoices", None),
    ("GET", "/v1/batches/{b}", None),
    ("GET", "/v1/accounts/{a}/users", None),
    ("POST", "/v1/accounts/{a}/users", {"email": "mole@example.com", "name": "M", "role": "admin"}),
    ("GET", "/v1/accounts/{a}/users/{u}", None),
    ("PATCH", "/v1/accounts/{a}/users/{u}", {"role": "admin"}),
    ("DELETE", "/v1/accounts/{a}/users/{u}", None),
    ("POST", "/v1/accounts/{a}/users/{u}/invitation", None),
    ("GET", "/v1/accounts/{a}/add-ons", None),
    ("POST", "/v1/accounts/{a}/add-ons", {"kind": "virtual_number"}),
    ("DELETE", "/v1/accounts/{a}/add-ons/{o}", None),
    ("GET", "/v1/accounts/{a}/campaigns", None),
    ("POST", "/v1/accounts/{a}/campaigns", {"country": "US", "reference": "steal"}),
    ("GET", "/v1/accounts/{a}/senders", None),
    ("POST", "/v1/accounts/{a}/senders", {"sender": "Nordea"}),
    ("DELETE", "/v1/accounts/{a}/senders/Swedbank", None),
    ("GET", "/v1/accounts/{a}/banned-keywords", None),
    ("PUT", "/v1/accounts/{a}/banned-keywords", {"keywords": []}),
    ("GET", "/v1/accounts/{a}/inbound-messages", None),
    (
        "POST",
        "/v1/inbound-messages",
        {
            "messages": [
                {
                    "to": "+46701740605",
                    "from": "+46731234567",
                    "body": "STOP",
                    "at": "2026-11-02T09:01:00Z",
                    "gateway_ref": "mole",
                }
            ]
        },
    ),
    (
        "POST",
        "/v1/delivery-reports",
        {"reports": [{"message_id": "{m}", "status_code": 201, "at": "2026-11-02T09:01:00Z"}]},
    ),
]
LISTS: list[str] = [
    "/v1/messages?batch_id={b}",
    "/v1/messages?account_id={a}",
    "/v1/messages?recipient=%2B46731234567",
    "/v1/messages",
]


def _fill(template: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        template = template.replace("{" + name + "}", value)
    return template


def _fill_body(body: dict[str, Any] | None, ids: dict[str, str]) -> Any:
    if body is None:
        return None
    import json

    return json.loads(_fill(json.dumps(body), ids))


@pytest.fixture
def victim(client: TestClient, services: Services) -> tuple[Tenant, dict[str, str]]:
    tenant = open_tenant(client, name="Victim AB", top_up=10_000)
    client.post(
        f"/v1/accounts/{tenant.id}/blocklist",
        json={"msisdn": "+46731234590"},
        headers=tenant.as_("admin"),
    )
    # What only the operator and the account's admin may read of it.
    for path, body in (
        ("campaigns", {"country": "US", "reference": "tcr-victim"}),
        ("senders", {"sender": "Swedbank"}),
    ):
        r = client.post(f"/v1/accounts/{tenant.id}/{path}", json=body, headers=OPERATOR)
        assert r.status_code == 201, r.text
    user = client.post(
        f"/v1/accounts/{tenant.id}/users",
        json={"email": "victim.user@example.com", "name": "Vic", "role": "support"},
        headers=tenant.as_("admin"),
    )
    assert user.status_code == 201, user.text
    add_on = client.post(
        f"/v1/accounts/{tenant.id}/add-ons", json={"kind": "unsubscribe_link"}, headers=OPERATOR
    )
    assert add_on.status_code == 201, add_on.text
    r = client.put(
        f"/v1/accounts/{tenant.id}/banned-keywords",
        json={"keywords": ["victimword"]},
        headers=tenant.as_("admin"),
    )
    assert r.status_code == 200, r.text
    batch = client.post(
        "/v1/messages",
        json={"sender": "Victim", "recipients": ["+46731234567"], "body": "secret text"},
        headers=tenant.as_("sender"),
    ).json()
    catch_up(services)
    ids = {
        "a": tenant.id,
        "m": batch["messages"][0]["id"],
        "k": tenant.key_ids["sender"],
        "b": batch["batch_id"],
        "u": user.json()["id"],
        "o": add_on.json()["id"],
    }
    return tenant, ids


def _snapshot(client: TestClient, tenant: Tenant, ids: dict[str, str]) -> dict[str, Any]:
    return {
        "account": client.get(f"/v1/accounts/{tenant.id}", headers=OPERATOR).json(),
        "message": client.get(f"/v1/messages/{ids['m']}", headers=OPERATOR).json(),
        "blocklist": client.get(f"/v1/accounts/{tenant.id}/blocklist", headers=OPERATOR).json(),
        **{
            path: client.get(f"/v1/accounts/{tenant.id}/{path}", headers=OPERATOR).json()
            for path in ("campaigns", "senders", "banned-keywords", f"users/{ids['u']}", "add-ons")
        },
        "sender_key_works": client.get(
            f"/v1/accounts/{tenant.id}", headers=tenant.as_("sender")
        ).status_code,
    }


def _leaks(text: str, tenant: Tenant, ids: dict[str, str]) -> list[str]:
    secrets = [tenant.id, ids["m"], ids["b"], ids["k"], "Victim", "secret text"]
    secrets += ["tcr-victim", "Swedbank", "victimword", "victim.user@example.com", ids["u"]]
    return [s for s in secrets if s in text]


def test_no_account_role_reaches_another_accounts_resources(
    client: TestClient, services: Services, victim: tuple[Tenant, dict[str, str]]
) -> None:
    tenant, ids = victim
    attacker = open_tenant(client, name="Attacker", top_up=10_000)
    before = _snapshot(client, tenant, ids)
    failures = []
    for role in ACCOUNT_ROLES:
        for method, template, body in ENDPOINTS:
            path = _fill(template, ids)
            r = client.request(method, path, json=_fill_body(body, ids), headers=attacker.as_(role))
            leaked = _leaks(r.text, tenant, ids)
            if r.status_code not in (403, 404) or leaked:
                failures.append((role, method, template, r.status_code, leaked, r.text[:200]))
        for template in LISTS:
            r = client.get(_fill(template, ids), headers=attacker.as_(role))
            leaked = _leaks(r.text, tenant, ids)
            if r.status_code not in (200, 403, 404) or leaked:
                failures.append((role, "GET", template, r.status_code, leaked, r.text[:200]))
            if r.status_code == 200:
                assert r.json()["items"] == [], (role, template)
    assert failures == []
    assert _snapshot(client, tenant, ids) == before


def test_unknown_and_foreign_ids_read_the_same(
    client: TestClient, victim: tuple[Tenant, dict[str, str]]
) -> None:
    """Not even the words differ between "no such id" and "someone else's id"."""
    _, ids = victim
    attacker = open_tenant(client, name="Attacker")
    for role, path in (
        ("support", "/v1/messages/{m}"),
        ("admin", "/v1/accounts/{a}"),
        ("finance", "/v1/accounts/{a}/ledger"),
        ("admin", "/v1/accounts/{a}/blocklist"),
    ):
        foreign = client.get(_fill(path, ids), headers=attacker.as_(role))
        unknown = client.get(_fill(path, {"a": UNKNOWN, "m": UNKNOWN}), headers=attacker.as_(role))
        assert foreign.status_code == unknown.status_code == 404
        assert foreign.json() == unknown.json()


def test_platform_roles_that_may_not_call_are_403(
    client: TestClient, victim: tuple[Tenant, dict[str, str]]
) -> None:
    _, ids = victim
    gateway = client.post("/v1/gateway-keys", headers=OPERATOR).json()["key"]
    for method, template, body in ENDPOINTS:
        if template in ("/v1/delivery-reports", "/v1/inbound-messages"):  # the gateway's own
            continue
        r = client.request(
            method,
            _fill(template, ids),
            json=_fill_body(body, ids),
            headers={"Authorization": f"Bearer {gateway}"},
        )
        assert r.status_code == 403, (method, template, r.text)
