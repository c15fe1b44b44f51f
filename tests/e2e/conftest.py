"""End-to-end fixtures: the whole service, built by the composition root, over HTTP.

Each test gets the app on its own database (SQLite and PostgreSQL) and the test's
clock; workers do not run in the background, so a test catches the projections up
explicitly (``catch_up``) and nothing happens behind its back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smsledger.adapters.storage import Database
from smsledger.api.main import create_app
from smsledger.bootstrap import Services, build
from smsledger.settings import Settings
from tests.support import FakeClock

OPERATOR_TOKEN = "op-test-token-0123456789abcdef"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


OPERATOR = bearer(OPERATOR_TOKEN)


@pytest.fixture
def services(database: Database, clock: FakeClock) -> Iterator[Services]:
    settings = Settings(operator_token=OPERATOR_TOKEN, gateway="none", workers="none")
    built = build(settings, database=database, clock=clock)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as c:
        yield c


@dataclass
class Tenant:
    """An account opened over HTTP, with one key per account role."""

    id: str
    keys: dict[str, str]  # role -> key
    key_ids: dict[str, str]

    def as_(self, role: str) -> dict[str, str]:
        return bearer(self.keys[role])


def open_tenant(
    client: TestClient,
    name: str = "Acme",
    payment_model: str = "balance",
    top_up: int = 0,
) -> Tenant:
    r = client.post(
        "/v1/accounts",
        json={"name": name, "payment_model": payment_model, "currency": "SEK"},
        headers=OPERATOR,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    tenant = Tenant(body["id"], {"admin": body["admin_key"]}, {})
    for role in ("sender", "support", "finance"):
        k = client.post(
            f"/v1/accounts/{tenant.id}/keys", json={"role": role}, headers=tenant.as_("admin")
        )
        assert k.status_code == 201, k.text
        tenant.keys[role] = k.json()["key"]
        tenant.key_ids[role] = k.json()["id"]
    if top_up:
        t = client.post(
            f"/v1/accounts/{tenant.id}/top-ups",
            json={"amount": top_up, "reference": f"initial-{name}"},
            headers=OPERATOR,
        )
        assert t.status_code == 201, t.text
    return tenant


def catch_up(services: Services) -> None:
    if services.runner.projections:  # with none, run_once never finds itself caught up
        services.runner.run_once()


def problem_of(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == response.status_code
    return body
