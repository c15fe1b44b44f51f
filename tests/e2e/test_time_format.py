"""One time format in every answer: RFC 3339 in UTC with ``Z``, on every route and both
databases, whatever offset the time came in with."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.e2e.conftest import OPERATOR, catch_up, open_tenant

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services

LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
RFC3339_UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def times_in(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every string in a JSON document that reads as a time, with where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from times_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from times_in(item, f"{path}[{i}]")
    elif isinstance(value, str) and LOOKS_LIKE_A_TIME.match(value):
        yield path, value


def test_every_route_writes_every_time_in_utc_with_z(
    client: TestClient, services: Services
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    account = f"/v1/accounts/{tenant.id}"
    answers: dict[str, Any] = {}

    def keep(name: str, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, (name, response.text)
        answers[name] = response.json()
        return answers[name]

    # Times sent with offsets other than UTC: a send time in Stockholm's winter time, a
    # carrier's report time in +02:00.
    receipt = keep(
        "POST /v1/messages",
        client.post(
            "/v1/messages",
            json={
                "sender": "Acme",
                "recipients": ["+46731234567", "+46731234568"],
                "body": "hi",
                "send_at": "2026-11-02T10:30:00+01:00",
            },
            headers=tenant.as_("sender"),
        ),
        202,
    )
    first, second = (m["id"] for m in receipt["messages"])
    keep(
        "POST /v1/delivery-reports",
        client.post(
            "/v1/delivery-reports",
            json={
                "reports": [
                    {"message_id": first, "status_code": 201, "at": "2026-11-02T11:31:00+02:00"}
                ]
            },
            headers=OPERATOR,
        ),
    )
    keep(
        "POST .../cancel",
        client.post(f"/v1/messages/{second}/cancel", headers=tenant.as_("sender")),
    )
    keep(
        "POST .../blocklist",
        client.post(
            f"{account}/blocklist", json={"msisdn": "+46739999999"}, headers=tenant.as_("admin")
        ),
        201,
    )
    catch_up(services)
    # The fast path of the hottest read, and the standard one (a query string).
    keep(
        "GET /v1/messages/{id}", client.get(f"/v1/messages/{first}", headers=tenant.as_("support"))
    )
    keep(
        "GET /v1/messages/{id}?",
        client.get(
            f"/v1/messages/{first}?",
            headers={**tenant.as_("support"), "X-Ledger-Min-Position": "1"},
        ),
    )
    keep("GET /v1/messages", client.get("/v1/messages", headers=tenant.as_("support")))
    keep(
        "GET .../history",
        client.get(f"/v1/messages/{first}/history", headers=tenant.as_("support")),
    )
    keep(
        "GET .../history?as_of",
        client.get(
            f"/v1/messages/{first}/history",
            params={"as_of": "2026-11-02T12:00:00+03:00"},
            headers=tenant.as_("support"),
        ),
    )
    keep("GET .../ledger", client.get(f"{account}/ledger", headers=tenant.as_("finance")))
    keep("GET .../blocklist", client.get(f"{account}/blocklist", headers=tenant.as_("admin")))
    keep(
        "GET .../invoices", client.get(f"{account}/invoices/2026-11", headers=tenant.as_("finance"))
    )
    keep(
        "GET /v1/reconciliation", client.get("/v1/reconciliation?period=2026-11", headers=OPERATOR)
    )
    keep("GET /v1/accounts/{id}", client.get(account, headers=tenant.as_("admin")))
    keep(
        "POST .../keys",
        client.post(f"{account}/keys", json={"role": "support"}, headers=tenant.as_("admin")),
        201,
    )
    keep("POST /v1/gateway-keys", client.post("/v1/gateway-keys", headers=OPERATOR), 201)

    # A report's `raw` is the carrier's payload kept verbatim (as received, times and
    # all); everything else is the ledger's own writing.
    found = [
        (name, path, text)
        for name, body in answers.items()
        for path, text in times_in(body)
        if ".data.raw" not in path
    ]
    wrong = [f for f in found if not RFC3339_UTC_Z.match(f[2])]
    assert wrong == []
    # The check saw the times it is about: created_at and updated_at on both reads, the
    # history's `at` and its data, the ledger's `at`, the block list's `added_at`.
    where = {(name, re.sub(r"\[\d+\]", "[]", path)) for name, path, _ in found}
    for expected in (
        ("GET /v1/messages/{id}", "$.created_at"),
        ("GET /v1/messages/{id}?", "$.updated_at"),
        ("GET /v1/messages", "$.items[].created_at"),
        ("POST .../cancel", "$.created_at"),
        ("GET .../history", "$.events[].at"),
        ("GET .../history", "$.events[].data.send_at"),
        ("GET .../history", "$.events[].data.carrier_at"),
        ("GET .../ledger", "$.entries[].at"),
        ("GET .../blocklist", "$.items[].added_at"),
    ):
        assert expected in where, expected
