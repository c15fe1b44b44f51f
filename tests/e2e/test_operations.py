"""Health, metrics, status codes, OpenAPI, limits and error shapes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from smsledger.api.routes.docs import ASSETS
from smsledger.domain.status import STATUS_CODES
from tests.e2e.conftest import OPERATOR, open_tenant, problem_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services


def test_status_codes_for_anyone(client: TestClient) -> None:
    r = client.get("/v1/status-codes")
    assert r.status_code == 200
    codes = r.json()
    assert len(codes) == len(STATUS_CODES)
    assert [c["code"] for c in codes] == sorted(STATUS_CODES)
    assert codes[0] == {
        "code": 101,
        "name": "Accepted",
        "group": "Info",
        "final": False,
        "description": "accepted for processing",
    }
    by_code = {c["code"]: c for c in codes}
    assert by_code[201]["group"] == "Success"
    assert by_code[201]["final"] is True
    assert by_code[503]["final"] is False


def test_healthz(client: TestClient, services: Services) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert set(body["projections"]) == {p.name for p in services.runner.projections}
    for p in body["projections"].values():
        assert p == {"position": p["position"], "lag": p["lag"], "failed_events": 0, "failures": []}


def test_metrics_in_prometheus_format(client: TestClient) -> None:
    open_tenant(client)
    client.get("/v1/status-codes")
    r = client.get("/metrics", headers=OPERATOR)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (
        'smsledger_http_requests_total{method="POST",route="/v1/accounts",status="201"} 1.0' in text
    )
    assert "smsledger_http_request_duration_seconds_bucket" in text
    assert "smsledger_log_head" in text
    assert "smsledger_projection_lag" in text


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/accounts",
        "/v1/accounts/{account_id}",
        "/v1/accounts/{account_id}/keys",
        "/v1/accounts/{account_id}/keys/{key_id}",
        "/v1/accounts/{account_id}/payment-model",
        "/v1/gateway-keys",
        "/v1/accounts/{account_id}/top-ups",
        "/v1/messages",
        "/v1/messages/{message_id}",
        "/v1/messages/{message_id}/history",
        "/v1/messages/{message_id}/cancel",
        "/v1/delivery-reports",
        "/v1/accounts/{account_id}/ledger",
        "/v1/accounts/{account_id}/invoices/{period}",
        "/v1/accounts/{account_id}/invoices/{period}/issue",
        "/v1/reconciliation",
        "/v1/accounts/{account_id}/blocklist",
        "/v1/accounts/{account_id}/blocklist/{msisdn}",
        "/v1/status-codes",
        "/healthz",
    ):
        assert path in paths, path
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_the_docs_page_loads_nothing_from_outside(client: TestClient) -> None:
    page = client.get("/docs").text
    # Every script, style and icon comes from the service itself.
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, page
    assert all(src.startswith("/docs/assets/") for src in sources), sources
    assert "cdn" not in page.lower()
    for src in sources:
        r = client.get(src)
        assert r.status_code == 200, src
        assert r.content == (ASSETS / src.rsplit("/", 1)[1]).read_bytes()
    assert client.get("/docs/assets/../../etc/passwd").status_code == 404
    assert client.get("/docs/assets/index.html").status_code == 404


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    r = client.get("/v1/nowhere")
    assert r.status_code == 404
    problem_of(r)
    r = client.patch("/v1/status-codes")
    assert r.status_code == 405
    problem_of(r)


def test_a_body_over_the_limit_is_413(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client)
    big = b'{"sender": "Acme", "recipients": ["' + b"1" * services.settings.max_body_bytes + b'"]}'
    r = client.post(
        "/v1/messages",
        content=big,
        headers={**tenant.as_("sender"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    problem_of(r)

    # Without a Content-Length (chunked), the limit holds while reading.
    def chunks() -> Iterator[bytes]:
        yield b'{"sender": "Acme", "body": "'
        for _ in range(services.settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    r = client.post(
        "/v1/messages",
        content=chunks(),
        headers={**tenant.as_("sender"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    problem_of(r)


def test_min_position_beyond_the_log_is_503_with_retry_after(client: TestClient) -> None:
    tenant = open_tenant(client)
    r = client.get(
        "/v1/messages",
        headers={**tenant.as_("support"), "X-Ledger-Min-Position": str(10**12)},
    )
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "1"
    problem_of(r)
    for bad in ("-1", "x", str(2**64)):
        r = client.get(
            "/v1/messages", headers={**tenant.as_("support"), "X-Ledger-Min-Position": bad}
        )
        assert r.status_code == 422


def test_operator_token_is_compared_exactly(client: TestClient) -> None:
    token = OPERATOR["Authorization"]
    assert (
        client.post("/v1/gateway-keys", headers={"Authorization": token + "x"}).status_code == 401
    )
    assert client.post("/v1/gateway-keys", headers={"Authorization": token[:-1]}).status_code == 401
    assert client.post("/v1/gateway-keys", headers=OPERATOR).status_code == 201


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_openapi_documents_every_error_as_a_problem_document(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's own 422 shape, never sent
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    validation = schemas["ValidationProblem"]
    assert "errors" in validation["required"]
    issue = validation["properties"]["errors"]["items"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[issue]["properties"]) == {"loc", "msg", "type"}
    for method, path, operation in _operations(spec):
        for code, response in operation["responses"].items():
            if int(code) < 400 or path == "/healthz":
                continue
            # Under the media type the server sends, with its schema; nothing under JSON.
            assert set(response["content"]) == {"application/problem+json"}, (method, path, code)
            ref = response["content"]["application/problem+json"]["schema"]["$ref"]
            wanted = "ValidationProblem" if code == "422" else "Problem"
            assert ref == f"#/components/schemas/{wanted}", (method, path, code)


def test_openapi_lists_only_the_codes_each_route_can_answer(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    codes = {
        (method, path): {int(c) for c in op["responses"] if int(c) >= 400}
        for method, path, op in _operations(spec)
    }
    assert codes[("GET", "/v1/status-codes")] == set()
    assert codes[("GET", "/healthz")] == {503}
    assert codes[("GET", "/metrics")] == {401, 403, 503}
    # Nothing to look up, no input, no state: no 404, no 422, no 409.
    assert codes[("POST", "/v1/gateway-keys")] == {401, 403, 503}
    # A list finds nothing rather than 404, and changes nothing.
    assert codes[("GET", "/v1/messages")] == {401, 403, 422, 503}
    assert codes[("GET", "/v1/messages/{message_id}")] == {401, 403, 404, 422, 503}
    assert codes[("POST", "/v1/accounts/{account_id}/top-ups")] == {
        401,
        403,
        404,
        409,
        413,
        422,
        503,
    }
    assert codes[("POST", "/v1/messages/{message_id}/cancel")] == {401, 403, 404, 409, 422, 503}
    # Only a route that takes a body can be sent one too large.
    for (method, path), found in codes.items():
        has_body = "requestBody" in spec["paths"][path][method.lower()]
        assert (413 in found) == has_body, (method, path)
    assert len({frozenset(c) for c in codes.values()}) > 5


def test_a_503_for_a_position_not_reached_is_documented_with_retry_after(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    response = spec["paths"]["/v1/messages"]["get"]["responses"]["503"]
    assert "Retry-After" in response["headers"]
    assert "WWW-Authenticate" in spec["paths"]["/v1/messages"]["get"]["responses"]["401"]["headers"]


def test_openapi_links_lead_from_an_answer_to_the_requests_it_enables(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    ids = {op["operationId"] for _, _, op in _operations(spec)}
    opened = spec["paths"]["/v1/accounts"]["post"]["responses"]["201"]["links"]
    assert opened["TopUp"]["parameters"] == {"account_id": "$response.body#/id"}
    sent = spec["paths"]["/v1/messages"]["post"]["responses"]["202"]["links"]
    assert sent["ReadMessage"]["parameters"] == {"message_id": "$response.body#/messages/0/id"}
    for _, _, operation in _operations(spec):
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in ids
