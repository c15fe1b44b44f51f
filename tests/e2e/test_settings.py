"""Settings are real: each one changes what the service does."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from smsledger.api.main import create_app
from smsledger.bootstrap import build
from smsledger.settings import Settings
from tests.e2e.conftest import OPERATOR_TOKEN, open_tenant, problem_of

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
