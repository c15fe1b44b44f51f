"""Campaigns, verified senders and banned keywords over HTTP, on both databases: who may
book or verify, what a send then makes of US, Canadian, fixed-line and protected-name
messages, and that nothing is charged for a rejection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.e2e.conftest import OPERATOR, open_tenant, problem_of

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from tests.e2e.conftest import Tenant
    from tests.support import FakeClock

US, CANADA, JAMAICA, FIXED_SE, MOBILE_SE = (
    "+12025550123",
    "+14165550123",
    "+18762101234",
    "+4681234567",
    "+46701234567",
)


def send(client: TestClient, tenant: Tenant, recipients: list[str], **body: Any) -> Any:
    r = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": recipients, "body": "Hello", **body},
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 202, r.text
    return r.json()


def codes(batch: Any) -> list[int]:
    return [m["status"]["code"] for m in batch["messages"]]


def balance(client: TestClient, tenant: Tenant) -> int:
    return int(client.get(f"/v1/accounts/{tenant.id}", headers=OPERATOR).json()["balance"])


def test_operator_books_a_campaign_and_its_country_becomes_sendable(
    client: TestClient, clock: FakeClock
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    url = f"/v1/accounts/{tenant.id}/campaigns"
    # Before: US and Canada are 403 and cost nothing; Jamaica (+1 too) is an ordinary
    # destination; a Swedish fixed line is 410.
    batch = send(client, tenant, [US, CANADA, JAMAICA, FIXED_SE, MOBILE_SE])
    assert codes(batch) == [403, 403, 103, 410, 103]
    assert batch["total_price"] == 95 + 45
    assert balance(client, tenant) == 10_000 - 95 - 45
    # The admin may read the campaigns but not book one.
    assert client.get(url, headers=tenant.as_("admin")).json() == {"items": []}
    r = client.post(url, json={"country": "US", "reference": "x"}, headers=tenant.as_("admin"))
    assert r.status_code == 403
    problem_of(r)
    # The operator books a US campaign for 30 days; a retry is the same booking.
    booking = {"country": "US", "reference": "tcr-42", "valid_until": "2026-12-02T09:00:00Z"}
    r = client.post(url, json=booking, headers=OPERATOR)
    assert r.status_code == 201, r.text
    assert int(r.headers["X-Ledger-Position"]) > 0
    assert r.json()["items"] == [
        {
            "country": "US",
            "reference": "tcr-42",
            "booked_at": "2026-11-02T09:00:00Z",
            "valid_until": "2026-12-02T09:00:00Z",
            "active": True,
        }
    ]
    again = client.post(url, json=booking, headers=OPERATOR)
    assert again.status_code == 200
    assert again.json() == r.json()
    other_terms = client.post(url, json={**booking, "country": "CA"}, headers=OPERATOR)
    assert other_terms.status_code == 409
    problem_of(other_terms)
    # US now goes through at the US price; Canada still needs its own campaign.
    assert codes(send(client, tenant, [US, CANADA])) == [103, 403]
    # After the campaign's end, US is 403 again.
    clock.advance(days=31)
    assert codes(send(client, tenant, [US])) == [403]
    assert client.get(url, headers=tenant.as_("admin")).json()["items"][0]["active"] is False


def test_bad_campaigns_are_422_and_book_nothing(client: TestClient) -> None:
    tenant = open_tenant(client)
    url = f"/v1/accounts/{tenant.id}/campaigns"
    for bad in (
        {"country": "JM", "reference": "r"},
        {"country": "us", "reference": "r"},
        {"country": "US", "reference": ""},
        {"country": "US", "reference": "a\u0000b"},
        {"country": "US", "reference": "r", "valid_until": "2026-11-01T00:00:00Z"},
        {"country": "US", "reference": "r", "valid_until": 1700000000},
        {"country": "US", "reference": "r", "extra": 1},
    ):
        r = client.post(url, json=bad, headers=OPERATOR)
        assert r.status_code == 422, (bad, r.text)
        problem_of(r)
    assert client.get(url, headers=OPERATOR).json() == {"items": []}


def test_a_protected_sender_name_needs_the_operators_verification(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    url = f"/v1/accounts/{tenant.id}/senders"
    # A bank's name, in any case or spacing, is 403 and costs nothing.
    for name in ("Swedbank", "SWED BANK"):
        batch = send(client, tenant, [MOBILE_SE], sender=name)
        assert codes(batch) == [403]
        assert batch["total_price"] == 0
    assert balance(client, tenant) == 10_000
    # The admin can only read; the operator verifies it (twice is once).
    r = client.post(url, json={"sender": "Swedbank"}, headers=tenant.as_("admin"))
    assert r.status_code == 403
    r = client.post(url, json={"sender": "Swedbank"}, headers=OPERATOR)
    assert r.status_code == 201, r.text
    assert [i["sender"] for i in r.json()["items"]] == ["Swedbank"]
    assert client.post(url, json={"sender": "swedbank"}, headers=OPERATOR).status_code == 200
    assert client.get(url, headers=tenant.as_("admin")).json() == r.json()
    assert codes(send(client, tenant, [MOBILE_SE], sender="Swedbank")) == [103]
    # Withdrawn: 403 again; withdrawing twice is 404.
    assert client.delete(f"{url}/Swedbank", headers=OPERATOR).json() == {"items": []}
    assert client.delete(f"{url}/Swedbank", headers=OPERATOR).status_code == 404
    assert codes(send(client, tenant, [MOBILE_SE], sender="Swedbank")) == [403]


def test_an_admin_sets_the_accounts_banned_keywords(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    url = f"/v1/accounts/{tenant.id}/banned-keywords"
    for role in ("sender", "support", "finance"):
        assert client.get(url, headers=tenant.as_(role)).status_code == 403
        r = client.put(url, json={"keywords": ["x"]}, headers=tenant.as_(role))
        assert r.status_code == 403
    r = client.put(
        url, json={"keywords": ["Lottery", "lottery", " raffle "]}, headers=tenant.as_("admin")
    )
    assert r.status_code == 200, r.text
    assert r.json()["keywords"] == ["lottery", "raffle"]
    assert "casino" in r.json()["platform"]
    # The account's words and the platform's, with their inflections, are 404.
    assert codes(send(client, tenant, [MOBILE_SE], body="Our lotteries open")) == [404]
    assert codes(send(client, tenant, [MOBILE_SE], body="Gambling tonight")) == [404]
    assert codes(send(client, tenant, [MOBILE_SE], body="Hello")) == [103]
    for bad in ({"keywords": "lottery"}, {"keywords": [1]}, {"keywords": ["a\u0007"]}, {}):
        assert client.put(url, json=bad, headers=tenant.as_("admin")).status_code == 422, bad
    assert client.get(url, headers=tenant.as_("admin")).json()["keywords"] == ["lottery", "raffle"]
