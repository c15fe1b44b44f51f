"""Delivery reports over HTTP: gateways (and the operator) post them; statuses move."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.e2e.conftest import OPERATOR, bearer, catch_up, open_tenant, problem_of

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _sent(client: TestClient, n: int = 2) -> tuple[Any, list[str]]:
    tenant = open_tenant(client, top_up=100_000)
    batch = client.post(
        "/v1/messages",
        json={
            "sender": "Acme",
            "recipients": [f"+4673123456{i}" for i in range(n)],
            "body": "Hello",
        },
        headers=tenant.as_("sender"),
    ).json()
    return tenant, [m["id"] for m in batch["messages"]]


def test_a_gateway_posts_reports_and_statuses_move(client: TestClient, services: Services) -> None:
    tenant, (first, second) = _sent(client)
    gateway = bearer(client.post("/v1/gateway-keys", headers=OPERATOR).json()["key"])
    reports = [
        {"message_id": first, "status_code": 112, "at": "2026-11-02T09:00:05+00:00"},
        {
            "message_id": first,
            "status_code": 201,
            "at": "2026-11-02T09:00:09+00:00",
            "raw": {"x": 1},
        },
        {
            "message_id": first,
            "status_code": 201,
            "at": "2026-11-02T09:00:09+00:00",
            "raw": {"x": 1},
        },
        {"message_id": first, "status_code": 113, "at": "2026-11-02T09:00:07+00:00"},
        {"message_id": UNKNOWN, "status_code": 201, "at": "2026-11-02T09:00:09+00:00"},
        {"message_id": "not-a-uuid", "status_code": 201, "at": "2026-11-02T09:00:09+00:00"},
        {"message_id": second, "status_code": "201", "at": "2026-11-02T09:00:09+00:00"},
        {"message_id": second, "status_code": 201, "at": "yesterday"},
        {"message_id": second, "status_code": 201, "at": 5},
        {"message_id": second, "status_code": 201, "at": "2026-11-02T09:00:09"},
    ]
    r = client.post("/v1/delivery-reports", json={"reports": reports}, headers=gateway)
    assert r.status_code == 200, r.text
    assert int(r.headers["X-Ledger-Position"]) > 0
    outcomes = [res["outcome"] for res in r.json()["results"]]
    assert outcomes == [
        "applied",
        "applied",
        "duplicate",
        "superseded",
        "unknown_message",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
    ]
    assert [res["message_id"] for res in r.json()["results"]][:2] == [first, first]
    catch_up(services)
    message = client.get(f"/v1/messages/{first}", headers=tenant.as_("support")).json()
    assert message["status"] == {"code": 201, "name": "DeliveredToHandset", "group": "Success"}
    assert message["legacy_status"] == "Delivered"
    assert message["final"] is True
    # A delivered message can no longer be canceled.
    assert (
        client.post(f"/v1/messages/{first}/cancel", headers=tenant.as_("sender")).status_code == 409
    )
    # The history keeps the carrier's time and payload.
    history = client.get(f"/v1/messages/{first}/history", headers=tenant.as_("support")).json()
    assert "ReportApplied" in [e["type"] for e in history["events"]]


def test_the_operator_posts_reports_too(client: TestClient) -> None:
    _, (first, _) = _sent(client)
    r = client.post(
        "/v1/delivery-reports",
        json={"reports": [{"message_id": first, "status_code": 502, "at": "2026-11-02T09:01:00Z"}]},
        headers=OPERATOR,
    )
    assert r.status_code == 200
    assert r.json()["results"] == [{"message_id": first, "outcome": "applied"}]


def test_only_gateways_and_the_operator_post_reports(client: TestClient) -> None:
    tenant, (first, _) = _sent(client)
    body = {"reports": [{"message_id": first, "status_code": 201, "at": "2026-11-02T09:01:00Z"}]}
    for role in ("admin", "sender", "support", "finance"):
        r = client.post("/v1/delivery-reports", json=body, headers=tenant.as_(role))
        assert r.status_code == 403
        problem_of(r)
    assert client.post("/v1/delivery-reports", json=body).status_code == 401


def test_malformed_report_batches_are_422(client: TestClient) -> None:
    for body in (
        {},
        {"reports": "x"},
        {"reports": [1, 2]},
        {
            "reports": [{"message_id": UNKNOWN, "status_code": 201, "at": "2026-11-02T09:01:00Z"}]
            * 10_001
        },
    ):
        r = client.post("/v1/delivery-reports", json=body, headers=OPERATOR)
        assert r.status_code == 422, r.text[:200]
        problem_of(r)
    r = client.post("/v1/delivery-reports", json={"reports": []}, headers=OPERATOR)
    assert r.status_code == 200
    assert r.json() == {"results": []}
