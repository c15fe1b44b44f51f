"""Property-based: schemathesis drives every operation of the app's own OpenAPI with
generated input, as the operator and as an account admin. No answer is a 5xx, except
the documented 503 (+ Retry-After) for an unreachable ``X-Ledger-Min-Position``.

Bounded (a few examples per operation) so the suite stays fast.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from smsledger.api.main import create_app
from smsledger.settings import Settings
from tests.e2e.conftest import OPERATOR, open_tenant

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services

# The spec does not depend on a database: build it from an app with no services behind it.
_SPEC = create_app(cast("Services", SimpleNamespace(settings=Settings()))).openapi()
schema = schemathesis.openapi.from_dict(_SPEC)


@pytest.fixture
def live(client: TestClient, services: Services) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """The app with an account and running projections (so min-position waits end)."""
    tenant = open_tenant(client, top_up=100_000)
    services.start_workers()
    yield cast("FastAPI", client.app), tenant.as_("admin")
    services.stop_workers()


def _check(case: Any, response: Any) -> None:
    status = response.status_code
    if status == 503 and "X-Ledger-Min-Position" in (case.headers or {}):
        assert _header(response, "retry-after")
        return
    assert status < 500, f"{case.method} {case.formatted_path}: {status} {response.text[:500]}"
    if status >= 400:
        assert _header(response, "content-type").startswith("application/problem+json")


def _header(response: Any, name: str) -> str:
    values = {k.lower(): v for k, v in response.headers.items()}.get(name, [""])
    return str(values[0] if isinstance(values, list) else values)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_5xx_for_generated_input(case: Any, live: tuple[FastAPI, dict[str, str]]) -> None:
    app, admin = live
    for headers in (OPERATOR, admin):
        response = case.call(app=app, headers=dict(headers))
        _check(case, response)
