"""Inbound SMS over HTTP on both databases: a STOP from the gateway cancels and refunds a
scheduled message, the roles, a bad envelope is 422 and changes nothing, the list pages
newest first, another account's id is 404, a number taken is 409; and the same story
through a real ``smsledger serve``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tests.e2e.conftest import OPERATOR, bearer, catch_up, open_tenant, problem_of
from tests.e2e.serving import clean_env, serve

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services
    from tests.e2e.conftest import Tenant
    from tests.support import FakeClock

FAN = "+46731234567"


def gateway_key(client: TestClient) -> dict[str, str]:
    r = client.post("/v1/gateway-keys", headers=OPERATOR)
    assert r.status_code == 201, r.text
    return bearer(r.json()["key"])


def with_number(client: TestClient, tenant: Tenant, number: str | None = None) -> str:
    body: dict[str, Any] = {"kind": "virtual_number"}
    if number is not None:
        body["number"] = number
    r = client.post(f"/v1/accounts/{tenant.id}/add-ons", json=body, headers=tenant.as_("admin"))
    assert r.status_code == 201, r.text
    got: str = r.json()["number"]
    return got


def sms(to: str, body: str, ref: str, at: str = "2026-11-02T10:00:00+01:00") -> dict[str, str]:
    return {"to": to, "from": FAN, "body": body, "at": at, "gateway_ref": ref}


def test_a_stop_from_the_gateway_cancels_and_refunds_a_scheduled_message(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    admin = tenant.as_("admin")
    number = with_number(client, tenant)
    assert number.startswith("+4670174")  # from the simulator's own range
    r = client.put(
        f"/v1/accounts/{tenant.id}/stop-service",
        json={"sms_stop": True, "unsubscribe_link": False},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    send_at = (clock() + timedelta(days=1)).isoformat()
    sent = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": [FAN], "body": "Sale!", "send_at": send_at},
        headers=tenant.as_("sender"),
    ).json()
    message = sent["messages"][0]
    catch_up(services)
    balance = client.get(f"/v1/accounts/{tenant.id}", headers=admin).json()["balance"]
    assert balance == 10_000 - message["price"]
    # The gateway posts the fan's STOP; a retry of the same post changes nothing more.
    gw = gateway_key(client)
    at = clock().isoformat()
    r = client.post(
        "/v1/inbound-messages", json={"messages": [sms(number, "Stop", "gw-1", at)]}, headers=gw
    )
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["outcome"] == "stored"
    assert result["action"] == "opt_out"
    assert int(r.headers["X-Ledger-Position"]) > 0
    again = client.post(
        "/v1/inbound-messages", json={"messages": [sms(number, "Stop", "gw-1", at)]}, headers=gw
    ).json()["results"]
    assert again == [{**result, "outcome": "duplicate"}]
    # Canceled, refunded to the öre, and the fan on the block list as a STOP.
    catch_up(services)
    got = client.get(f"/v1/messages/{message['id']}", headers=admin).json()
    assert (got["status"]["code"], got["refunded"]) == (203, True)
    assert client.get(f"/v1/accounts/{tenant.id}", headers=admin).json()["balance"] == 10_000
    items = client.get(f"/v1/accounts/{tenant.id}/blocklist", headers=admin).json()["items"]
    assert [(i["msisdn"], i["source"]) for i in items] == [(FAN, "stop")]
    # The account's inbound list shows it (reading its own write).
    listed = client.get(
        f"/v1/accounts/{tenant.id}/inbound-messages",
        headers={**tenant.as_("support"), "X-Ledger-Min-Position": r.headers["X-Ledger-Position"]},
    ).json()
    assert listed == {
        "items": [
            {
                "id": result["id"],
                "to": number,
                "from": FAN,
                "body": "Stop",
                "at": clock().isoformat().replace("+00:00", "Z"),
                "action": "opt_out",
            }
        ],
        "next_cursor": None,
    }


def test_roles_and_a_bad_envelope(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client)
    number = with_number(client, tenant)
    ok = {"messages": [sms(number, "hi", "gw-1")]}
    for role in ("admin", "sender", "support", "finance"):
        assert (
            client.post("/v1/inbound-messages", json=ok, headers=tenant.as_(role)).status_code
            == 403
        )
    assert client.post("/v1/inbound-messages", json=ok).status_code == 401
    bad: object
    for bad in (
        {},
        {"messages": "x"},
        {"messages": [5]},
        {"messages": [sms(number, "hi", "gw-2")], "extra": 1},
        {"messages": [sms(number, "hi", f"r{i}") for i in range(10_001)]},
        [],
    ):
        r = client.post("/v1/inbound-messages", json=bad, headers=OPERATOR)
        assert r.status_code == 422, r.text[:300]
        problem_of(r)
    catch_up(services)
    listed = client.get(f"/v1/accounts/{tenant.id}/inbound-messages", headers=OPERATOR).json()
    assert listed["items"] == []  # nothing of a refused batch was stored
    r = client.post("/v1/inbound-messages", json=ok, headers=OPERATOR)
    assert [x["outcome"] for x in r.json()["results"]] == ["stored"]


def test_the_list_pages_newest_first_and_another_account_is_404(
    client: TestClient, services: Services
) -> None:
    tenant = open_tenant(client)
    other = open_tenant(client, name="Other AB")
    number = with_number(client, tenant)
    other_number = with_number(client, other)
    assert other_number != number
    batch = [sms(number, f"hello {i}", f"gw-{i}") for i in range(5)]
    batch.append(sms(other_number, "theirs", "gw-other"))
    r = client.post("/v1/inbound-messages", json={"messages": batch}, headers=OPERATOR)
    assert [x["outcome"] for x in r.json()["results"]] == ["stored"] * 6
    catch_up(services)
    url = f"/v1/accounts/{tenant.id}/inbound-messages"
    bodies: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=params, headers=tenant.as_("admin")).json()
        bodies.extend(i["body"] for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert bodies == [f"hello {i}" for i in reversed(range(5))]
    # Another account's admin or support: 404, as for an unknown account.
    for role in ("admin", "support"):
        r = client.get(url, headers=other.as_(role))
        assert r.status_code == 404
        problem_of(r)
    for role in ("sender", "finance"):
        assert client.get(url, headers=tenant.as_(role)).status_code == 403
    r = client.get(url, params={"cursor": "nonsense!"}, headers=OPERATOR)
    assert r.status_code == 422


def test_a_number_another_account_holds_is_409(client: TestClient) -> None:
    first, second = open_tenant(client), open_tenant(client, name="Second AB")
    number = with_number(client, first, "0046 70 174 06 42")
    assert number == "+46701740642"
    r = client.post(
        f"/v1/accounts/{second.id}/add-ons",
        json={"kind": "virtual_number", "number": "+46701740642"},
        headers=second.as_("admin"),
    )
    assert r.status_code == 409
    assert "taken" in problem_of(r)["detail"]
    listed = client.get(f"/v1/accounts/{second.id}/add-ons", headers=OPERATOR).json()
    assert listed["items"] == []
    r = client.post(
        f"/v1/accounts/{second.id}/add-ons",
        json={"kind": "virtual_number", "number": "12"},
        headers=second.as_("admin"),
    )
    assert r.status_code == 422


def test_a_stop_through_a_real_serve(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with serve(tmp_path, clean_env(SMSLEDGER_GATEWAY="none")) as served:
        token = served.printed_token
        assert token is not None
        op = bearer(token)
        with httpx.Client(base_url=served.url, timeout=10) as http:
            account = http.post(
                "/v1/accounts",
                json={"name": "Acme AB", "payment_model": "post_invoice", "currency": "SEK"},
                headers=op,
            ).json()
            number = http.post(
                f"/v1/accounts/{account['id']}/add-ons", json={"kind": "virtual_number"}, headers=op
            ).json()["number"]
            http.put(
                f"/v1/accounts/{account['id']}/stop-service",
                json={"sms_stop": True, "unsubscribe_link": False},
                headers=op,
            ).raise_for_status()
            sent = http.post(
                "/v1/messages",
                json={
                    "sender": "Acme",
                    "recipients": [FAN],
                    "body": "Tomorrow!",
                    "send_at": (now + timedelta(days=1)).isoformat(),
                },
                headers=bearer(account["admin_key"]),
            )
            message_id = sent.json()["messages"][0]["id"]
            http.get(
                f"/v1/messages/{message_id}",
                headers={**op, "X-Ledger-Min-Position": sent.headers["X-Ledger-Position"]},
            ).raise_for_status()
            r = http.post(
                "/v1/inbound-messages",
                json={
                    "messages": [sms(number, "STOPP tack", "real-1", datetime.now(UTC).isoformat())]
                },
                headers=op,
            )
            assert r.json()["results"][0]["action"] == "opt_out", r.text
            got = http.get(
                f"/v1/messages/{message_id}",
                headers={**op, "X-Ledger-Min-Position": r.headers["X-Ledger-Position"]},
            ).json()
            assert got["status"]["name"] == "Canceled"
            assert got["refunded"] is True
