"""The stop service over HTTP, on both databases: each part needs what provides it, an
ended add-on switches its part off, the roles, and another account's id is 404."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.conftest import OPERATOR, open_tenant, problem_of

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from tests.support import FakeClock

BOTH_ON = {"sms_stop": True, "unsubscribe_link": True}
BOTH_OFF = {"sms_stop": False, "unsubscribe_link": False}


def test_each_part_needs_its_add_on(client: TestClient) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}/stop-service"
    admin = tenant.as_("admin")
    assert client.get(url, headers=admin).json() == BOTH_OFF
    r = client.put(url, json={"sms_stop": True, "unsubscribe_link": False}, headers=admin)
    assert r.status_code == 409
    assert "virtual number" in problem_of(r)["detail"]
    assert client.get(url, headers=admin).json() == BOTH_OFF  # nothing changed
    r = client.post(
        f"/v1/accounts/{tenant.id}/add-ons",
        json={"kind": "virtual_number", "number": "+46701230001"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = client.put(url, json={"sms_stop": True, "unsubscribe_link": False}, headers=admin)
    assert (r.status_code, r.json()) == (200, {"sms_stop": True, "unsubscribe_link": False})
    # The link has no add-on yet: switching it on too is refused, and keeps sms_stop on.
    r = client.put(url, json=BOTH_ON, headers=admin)
    assert r.status_code == 409
    assert "unsubscribe link" in problem_of(r)["detail"]
    assert client.get(url, headers=admin).json() == {"sms_stop": True, "unsubscribe_link": False}
    # Switching off always works.
    assert client.put(url, json=BOTH_OFF, headers=admin).json() == BOTH_OFF


def test_a_subscription_provides_both(client: TestClient) -> None:
    tenant = open_tenant(client, payment_model="post_invoice")
    url = f"/v1/accounts/{tenant.id}/stop-service"
    r = client.put(url, json=BOTH_ON, headers=OPERATOR)
    assert (r.status_code, r.json()) == (200, BOTH_ON)
    assert client.get(url, headers=tenant.as_("support")).json() == BOTH_ON


def test_an_ended_add_on_switches_its_part_off(client: TestClient, clock: FakeClock) -> None:
    tenant = open_tenant(client)
    admin = tenant.as_("admin")
    url = f"/v1/accounts/{tenant.id}/stop-service"
    add_on = client.post(
        f"/v1/accounts/{tenant.id}/add-ons", json={"kind": "unsubscribe_link"}, headers=admin
    ).json()
    on = {"sms_stop": False, "unsubscribe_link": True}
    assert client.put(url, json=on, headers=admin).json() == on
    notice = client.delete(f"/v1/accounts/{tenant.id}/add-ons/{add_on['id']}", headers=admin)
    ends_on = notice.json()["ends_on"]
    assert ends_on == "2027-11-02"
    clock.advance(days=364)  # 2027-11-01: the last day it runs
    assert client.get(url, headers=admin).json() == on
    clock.advance(days=1)
    assert client.get(url, headers=admin).json() == BOTH_OFF
    assert client.put(url, json=on, headers=admin).status_code == 409


def test_roles_bad_bodies_and_other_accounts(client: TestClient) -> None:
    tenant = open_tenant(client, payment_model="post_invoice")
    other = open_tenant(client, name="Other AB", payment_model="post_invoice")
    url = f"/v1/accounts/{tenant.id}/stop-service"
    for role in ("sender", "finance", "support"):
        assert client.put(url, json=BOTH_ON, headers=tenant.as_(role)).status_code == 403
    for role in ("sender", "finance"):
        assert client.get(url, headers=tenant.as_(role)).status_code == 403
    bad: object
    for bad in (
        {"sms_stop": 1, "unsubscribe_link": False},
        {"sms_stop": "true", "unsubscribe_link": False},
        {"sms_stop": True},
        {"sms_stop": True, "unsubscribe_link": False, "extra": 1},
        [],
    ):
        r = client.put(url, json=bad, headers=tenant.as_("admin"))
        assert r.status_code == 422, (bad, r.text)
        problem_of(r)
    assert client.get(url, headers=OPERATOR).json() == BOTH_OFF
    # Another account's admin: 404 for reading and writing, and nothing changed.
    for call in (
        client.get(url, headers=other.as_("admin")),
        client.put(url, json=BOTH_ON, headers=other.as_("admin")),
    ):
        assert call.status_code == 404
    assert client.get(url, headers=OPERATOR).json() == BOTH_OFF
