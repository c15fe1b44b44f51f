"""Sending, reading and canceling messages over HTTP, on both databases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from tests.e2e.conftest import OPERATOR, catch_up, open_tenant, problem_of

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services
    from tests.support import FakeClock

SE_1 = "+46731234567"
SE_2 = "46731234568"


def send(client: TestClient, headers: dict[str, str], **overrides: object) -> dict[str, Any]:
    body = {"sender": "Acme", "recipients": [SE_1, SE_2], "body": "Hello!", **overrides}
    r = client.post("/v1/messages", json=body, headers=headers)
    assert r.status_code == 202, r.text
    assert int(r.headers["X-Ledger-Position"]) > 0
    result: dict[str, Any] = r.json()
    return result


def test_send_prices_and_funds_each_recipient(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    batch = send(client, tenant.as_("sender"))
    messages = batch["messages"]
    assert isinstance(messages, list)
    assert [m["recipient"] for m in messages] == [SE_1, "+46731234568"]
    for m in messages:
        assert m["status"] == {"code": 103, "name": "Funded", "group": "Info"}
        assert m["segments"] == 1
        assert m["encoding"] == "GSM-7"
        assert m["price"] > 0
    assert batch["total_price"] == sum(m["price"] for m in messages)
    account = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("finance")).json()
    assert account["balance"] == 10_000 - batch["total_price"]


def test_a_recipient_that_fails_a_rule_is_a_message_with_its_status(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    batch = send(client, tenant.as_("admin"), recipients=[SE_1, "12", "+12025550123"])
    codes = [m["status"]["code"] for m in batch["messages"]]
    assert codes == [103, 409, 403]
    assert [m["price"] for m in batch["messages"]][1:] == [0, 0]


def test_unicode_body_is_ucs2(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    batch = send(client, tenant.as_("sender"), recipients=[SE_1], body="Hej 😀")
    assert batch["messages"][0]["encoding"] == "UCS-2"


def test_insufficient_funds_is_402_per_message(client: TestClient) -> None:
    tenant = open_tenant(client)
    batch = send(client, tenant.as_("sender"))
    assert [m["status"]["code"] for m in batch["messages"]] == [402, 402]
    assert batch["total_price"] == 0


def test_the_same_reference_answers_the_first_receipt(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    first = send(client, tenant.as_("sender"), reference="order-17")
    again = send(client, tenant.as_("sender"), reference="order-17")
    assert again == first
    account = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("finance")).json()
    assert account["balance"] == 10_000 - first["total_price"]


def test_malformed_batches_are_422_never_500(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    headers = tenant.as_("sender")
    bad_bodies: list[object] = [
        {},
        {"sender": "Acme", "recipients": [], "body": "x"},
        {"sender": "Acme", "recipients": SE_1, "body": "x"},
        {"sender": "Acme", "recipients": [46731234567], "body": "x"},
        {"sender": "Acme", "recipients": [SE_1], "body": None},
        {"sender": "Acme", "recipients": [SE_1], "body": "x", "validity_period": 10},
        {"sender": "Acme", "recipients": [SE_1], "body": "x", "validity_period": 10**30},
        {"sender": "Acme", "recipients": [SE_1], "body": "x", "send_at": "tomorrow"},
        {"sender": "Acme", "recipients": [SE_1], "body": "x", "send_at": "2026-11-02T10:00:00"},
        {
            "sender": "Acme",
            "recipients": [SE_1],
            "body": "x",
            "send_at": "9999-12-31T23:59:59-14:00",
        },
        {
            "sender": "Acme",
            "recipients": [SE_1],
            "body": "x",
            "send_at": "0001-01-01T00:00:00+14:00",
        },
        {"sender": "Acme", "recipients": [SE_1], "body": "x", "send_at": "2028-01-01T00:00:00Z"},
        {"sender": "Acme", "recipients": [SE_1], "body": "x", "reference": ""},
        {"sender": "A" * 65, "recipients": [SE_1], "body": "x"},
        {"sender": "Acme", "recipients": [SE_1] * 10_001, "body": "x"},
        {"sender": "Acme", "recipients": [SE_1], "body": "x" * 5_001},
        [1, 2, 3],
        "text",
    ]
    for body in bad_bodies:
        r = client.post("/v1/messages", json=body, headers=headers)
        assert r.status_code == 422, (str(body)[:80], r.text)
        problem_of(r)
    for raw in (b"{bad json", b"", b"\xff\xfe", b'{"sender": "Acme", "recipients": ['):
        r = client.post(
            "/v1/messages",
            content=raw,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, (raw, r.text)
        problem_of(r)


def test_only_sender_and_admin_send(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    body = {"sender": "Acme", "recipients": [SE_1], "body": "x"}
    for headers in (tenant.as_("support"), tenant.as_("finance"), OPERATOR):
        r = client.post("/v1/messages", json=body, headers=headers)
        assert r.status_code == 403
        problem_of(r)


def test_read_a_message(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client, top_up=10_000)
    r = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": [SE_1], "body": "Hello!"},
        headers=tenant.as_("sender"),
    )
    position = r.headers["X-Ledger-Position"]
    batch = r.json()
    line = batch["messages"][0]
    catch_up(services)
    for headers in (
        tenant.as_("sender"),
        tenant.as_("admin"),
        tenant.as_("support"),
        OPERATOR,
    ):
        got = client.get(
            f"/v1/messages/{line['id']}",
            headers={**headers, "X-Ledger-Min-Position": position},
        )
        assert got.status_code == 200, got.text
        message = got.json()
        assert message["id"] == line["id"]
        assert message["batch_id"] == batch["batch_id"]
        assert message["account_id"] == tenant.id
        assert message["sender"] == "Acme"
        assert message["recipient"] == SE_1
        assert message["segments"] == 1
        assert message["encoding"] == "GSM-7"
        assert message["price"] == line["price"]
        assert message["currency"] == "SEK"
        assert message["status"] == {"code": 103, "name": "Funded", "group": "Info"}
        assert message["legacy_status"] is None
        assert message["final"] is False
        assert message["charged_to"] == "balance"
        assert message["refunded"] is False
        assert message["created_at"].startswith("2026-11-02T09:00:00")
        assert "updated_at" in message
    assert (
        client.get(f"/v1/messages/{line['id']}", headers=tenant.as_("finance")).status_code == 403
    )


def test_unknown_or_malformed_message_id(client: TestClient) -> None:
    tenant = open_tenant(client)
    r = client.get(
        "/v1/messages/00000000-0000-4000-8000-000000000000", headers=tenant.as_("support")
    )
    assert r.status_code == 404
    assert problem_of(r)["detail"] == "no such message"
    for bad in ("xyz", "1", "00000000-0000-4000-8000-00000000000Z", "%00"):
        r = client.get(f"/v1/messages/{bad}", headers=tenant.as_("support"))
        assert r.status_code in (404, 422), r.text
        problem_of(r)


def test_cancel_before_hand_off_refunds(client: TestClient, clock: FakeClock) -> None:
    tenant = open_tenant(client, top_up=10_000)
    batch = send(client, tenant.as_("sender"), recipients=[SE_1])
    message_id = batch["messages"][0]["id"]
    clock.advance(minutes=1)
    r = client.post(f"/v1/messages/{message_id}/cancel", headers=tenant.as_("sender"))
    assert r.status_code == 200, r.text
    assert int(r.headers["X-Ledger-Position"]) > 0
    message = r.json()
    assert message["status"] == {"code": 203, "name": "Canceled", "group": "Success"}
    assert message["final"] is True
    assert message["refunded"] is True
    account = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("finance")).json()
    assert account["balance"] == 10_000
    # Twice: the message is final, a conflict.
    again = client.post(f"/v1/messages/{message_id}/cancel", headers=tenant.as_("admin"))
    assert again.status_code == 409
    problem_of(again)


def test_cancel_after_hand_off_is_409(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client, top_up=10_000)
    batch = send(client, tenant.as_("sender"), recipients=[SE_1])
    message_id = UUID(batch["messages"][0]["id"])
    # A gateway takes it (what the dispatcher records).
    message = services.ledger.get_message(message_id)
    message.start_sending(services.clock())
    message.hand_off("gw-1", services.clock())
    services.ledger.save(message)
    r = client.post(f"/v1/messages/{message_id}/cancel", headers=tenant.as_("sender"))
    assert r.status_code == 409
    problem_of(r)


def test_cancel_roles(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    batch = send(client, tenant.as_("sender"), recipients=[SE_1])
    message_id = batch["messages"][0]["id"]
    for headers in (tenant.as_("support"), tenant.as_("finance"), OPERATOR):
        r = client.post(f"/v1/messages/{message_id}/cancel", headers=headers)
        assert r.status_code == 403


def test_a_scheduled_send_is_funded_now_and_sent_later(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    batch = send(
        client, tenant.as_("sender"), recipients=[SE_1], send_at="2026-11-03T08:00:00+01:00"
    )
    assert batch["messages"][0]["status"]["code"] == 103
    # Until it is handed to a gateway it can be canceled, and the price comes back.
    r = client.post(
        f"/v1/messages/{batch['messages'][0]['id']}/cancel", headers=tenant.as_("admin")
    )
    assert r.status_code == 200
    assert r.json()["refunded"] is True
