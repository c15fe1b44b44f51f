"""Add-ons over HTTP, on both databases: ordering (once a day, one of a kind at a
time), notice, the roles, and what a subscription includes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.conftest import OPERATOR, catch_up, open_tenant, problem_of

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services
    from tests.support import FakeClock


def test_an_admin_orders_an_add_on_and_gives_notice(client: TestClient, clock: FakeClock) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}/add-ons"
    r = client.post(url, json={"kind": "unsubscribe_link"}, headers=tenant.as_("admin"))
    assert r.status_code == 201, r.text
    add_on = r.json()
    assert add_on == {
        "id": add_on["id"],
        "kind": "unsubscribe_link",
        "number": None,
        "price_per_year": 49_500,
        "currency": "SEK",
        "included": False,
        "started_on": "2026-11-02",
        "commitment_ends_on": "2027-11-02",
        "notice_given_on": None,
        "ends_on": None,
    }
    # The same order the same day is the same add-on; another of the kind later is 409.
    again = client.post(url, json={"kind": "unsubscribe_link"}, headers=OPERATOR)
    assert (again.status_code, again.json()["id"]) == (200, add_on["id"])
    clock.advance(days=1)
    r = client.post(url, json={"kind": "unsubscribe_link"}, headers=tenant.as_("admin"))
    assert r.status_code == 409
    problem_of(r)
    # Finance reads them; the sender and support may not.
    assert [a["id"] for a in client.get(url, headers=tenant.as_("finance")).json()["items"]] == [
        add_on["id"]
    ]
    for role in ("sender", "support"):
        assert client.get(url, headers=tenant.as_(role)).status_code == 403
    assert client.delete(f"{url}/{add_on['id']}", headers=tenant.as_("finance")).status_code == 403
    # Notice, a month in: the commitment's end decides.
    clock.advance(days=30)
    r = client.delete(f"{url}/{add_on['id']}", headers=tenant.as_("admin"))
    assert r.status_code == 200, r.text
    assert (r.json()["notice_given_on"], r.json()["ends_on"]) == ("2026-12-03", "2027-11-02")
    assert client.delete(f"{url}/{add_on['id']}", headers=OPERATOR).json() == r.json()


def test_a_subscription_includes_its_add_ons(client: TestClient) -> None:
    tenant = open_tenant(client, payment_model="post_invoice")
    r = client.post(
        f"/v1/accounts/{tenant.id}/add-ons",
        json={"kind": "virtual_number", "number": "46701234567"},
        headers=tenant.as_("admin"),
    )
    assert r.status_code == 201, r.text
    assert (r.json()["included"], r.json()["price_per_year"]) == (True, 0)
    assert r.json()["number"] == "+46701234567"


def test_bad_orders_are_refused_and_order_nothing(client: TestClient) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}/add-ons"
    for bad in ({"kind": "stickers"}, {"kind": "virtual_number", "number": "12"}, {}):
        r = client.post(url, json=bad, headers=tenant.as_("admin"))
        assert r.status_code == 422, (bad, r.text)
    r = client.post(
        url, json={"kind": "unsubscribe_link", "number": "+46701234567"}, headers=OPERATOR
    )
    assert r.status_code == 409
    assert client.get(url, headers=OPERATOR).json()["items"] == []
    assert (
        client.delete(f"{url}/00000000-0000-4000-8000-000000000000", headers=OPERATOR).status_code
        == 404
    )


def test_another_accounts_add_ons_are_not_found(client: TestClient, services: Services) -> None:
    victim, attacker = open_tenant(client, name="Victim"), open_tenant(client, name="Attacker")
    url = f"/v1/accounts/{victim.id}/add-ons"
    add_on = client.post(url, json={"kind": "unsubscribe_link"}, headers=OPERATOR).json()
    for method, path in (("GET", url), ("POST", url), ("DELETE", f"{url}/{add_on['id']}")):
        r = client.request(
            method, path, json={"kind": "virtual_number"}, headers=attacker.as_("admin")
        )
        assert r.status_code == 404, (method, path)
    # Nor through the attacker's own account.
    other = f"/v1/accounts/{attacker.id}/add-ons/{add_on['id']}"
    assert client.delete(other, headers=attacker.as_("admin")).status_code == 404
    catch_up(services)
    assert client.get(url, headers=OPERATOR).json()["items"][0]["notice_given_on"] is None
