"""Settings are real: each one changes what the service does."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from smsledger.api.main import create_app
from smsledger.bootstrap import StartupError, build
from smsledger.entrypoints.server import check_startup
from smsledger.settings import Settings
from tests.e2e.conftest import OPERATOR_TOKEN, bearer, open_tenant, problem_of

if TYPE_CHECKING:
    from pathlib import Path

    from smsledger.adapters.storage import Database
    from tests.support import FakeClock


def test_the_price_list_and_the_recipient_limit_come_from_the_settings(
    database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"currency": "SEK", "default_unit_price": 200, "by_country": {"SE": 99}})
    )
    settings = Settings(
        operator_token=OPERATOR_TOKEN,
        gateway="none",
        workers="none",
        price_list=str(prices),
        max_recipients=3,
    )
    services = build(settings, database=database, clock=clock)
    try:
        with TestClient(create_app(services)) as client:
            tenant = open_tenant(client, top_up=10_000)
            send = {"sender": "Acme", "body": "hi"}
            # The configured price list prices the message.
            r = client.post(
                "/v1/messages",
                json={**send, "recipients": ["+46701234567", "+4790012345"]},
                headers=tenant.as_("sender"),
            )
            assert r.status_code == 202, r.text
            assert [m["price"] for m in r.json()["messages"]] == [99, 200]
            # The configured limit is enforced, as a 422 on the field, and documented.
            r = client.post(
                "/v1/messages",
                json={**send, "recipients": ["+46701234567"] * 4},
                headers=tenant.as_("sender"),
            )
            assert r.status_code == 422
            assert problem_of(r)["errors"][0]["loc"] == ["body", "recipients"]
            schema = client.get("/openapi.json").json()["components"]["schemas"]["BatchCreate"]
            assert schema["properties"]["recipients"]["maxItems"] == 3
    finally:
        services.close()


METRICS_TOKEN = "metrics-scraper-token-0123456789"


def test_metrics_need_the_operator_or_the_metrics_token(
    database: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        operator_token=OPERATOR_TOKEN, gateway="none", workers="none", metrics_token=METRICS_TOKEN
    )
    # The token never shows in the settings' text (a log line, a traceback).
    assert METRICS_TOKEN not in repr(settings)
    assert METRICS_TOKEN not in str(settings)
    services = build(settings, database=database, clock=clock)
    try:
        with TestClient(create_app(services)) as client:
            tenant = open_tenant(client)
            for headers in (
                {},
                bearer("nope"),
                bearer(METRICS_TOKEN + "x"),
                bearer(METRICS_TOKEN[:-1]),
            ):
                r = client.get("/metrics", headers=headers)
                assert r.status_code == 401, headers
                assert r.headers["WWW-Authenticate"] == "Bearer"
                problem_of(r)
            # An account's key is known, and not allowed: platform-wide counts are no
            # tenant's business.
            for role in ("admin", "finance", "support"):
                r = client.get("/metrics", headers=tenant.as_(role))
                assert r.status_code == 403
                problem_of(r)
            for token in (METRICS_TOKEN, OPERATOR_TOKEN):
                r = client.get("/metrics", headers=bearer(token))
                assert r.status_code == 200
                assert "smsledger_http_requests_total" in r.text
            # The metrics token opens nothing else.
            assert (
                client.get(f"/v1/accounts/{tenant.id}", headers=bearer(METRICS_TOKEN)).status_code
                == 401
            )
            # Health stays open to anyone.
            assert client.get("/healthz").status_code == 200
    finally:
        services.close()
    assert METRICS_TOKEN not in caplog.text


def test_a_short_metrics_token_refuses_to_start(database: Database) -> None:
    settings = Settings(operator_token=OPERATOR_TOKEN, metrics_token="short")
    with pytest.raises(StartupError, match="SMSLEDGER_METRICS_TOKEN"):
        check_startup(settings, database)
