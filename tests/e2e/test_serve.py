"""``smsledger serve`` as a real process: zero config, the operator token, PostgreSQL."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import httpx
import pytest

from smsledger.adapters.migrate import migrate
from tests.e2e.serving import SMSLEDGER, clean_env, serve
from tests.support import drop_postgres, new_postgres_database, url_of

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_zero_config_prints_a_token_once_and_it_survives_a_restart(tmp_path: Path) -> None:
    env = clean_env(SMSLEDGER_GATEWAY="none")
    with serve(tmp_path, env) as first:
        token = first.printed_token
        assert token is not None
        assert (tmp_path / "smsledger.db").exists()
        r = httpx.post(
            first.url + "/v1/accounts",
            json={"name": "Acme", "payment_model": "balance"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201
    with serve(tmp_path, env) as second:
        assert second.printed_token is None
        assert any("printed at first start" in line for line in second.stdout)
        r = httpx.post(
            second.url + "/v1/gateway-keys", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201
        # The printed token is the operator's, kept hashed: it reads /metrics too.
        metrics = httpx.get(second.url + "/metrics", headers={"Authorization": f"Bearer {token}"})
        assert metrics.status_code == 200
        assert httpx.get(second.url + "/metrics").status_code == 401


def _refusal(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMSLEDGER, "serve", "--port", "1"],
        cwd=tmp_path,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_postgres_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    db = new_postgres_database()
    try:
        done = _refusal(
            tmp_path,
            SMSLEDGER_DATABASE_URL=url_of(db),
            SMSLEDGER_OPERATOR_TOKEN="a-long-enough-operator-token",
        )
        assert done.returncode == 2
        assert "run `smsledger migrate`" in done.stderr
    finally:
        drop_postgres(db)


def test_postgres_refuses_without_an_operator_token(tmp_path: Path) -> None:
    db = new_postgres_database()
    migrate(db)
    try:
        done = _refusal(tmp_path, SMSLEDGER_DATABASE_URL=url_of(db))
        assert done.returncode == 2
        assert "SMSLEDGER_OPERATOR_TOKEN" in done.stderr
        done = _refusal(
            tmp_path, SMSLEDGER_DATABASE_URL=url_of(db), SMSLEDGER_OPERATOR_TOKEN="short"
        )
        assert done.returncode == 2
    finally:
        drop_postgres(db)


def test_serves_postgres_with_workers(tmp_path: Path) -> None:
    db = new_postgres_database()
    migrate(db)
    token = "a-long-enough-operator-token"
    try:
        env = clean_env(
            SMSLEDGER_DATABASE_URL=url_of(db),
            SMSLEDGER_OPERATOR_TOKEN=token,
            SMSLEDGER_GATEWAY="none",
        )
        with serve(tmp_path, env) as served:
            assert served.printed_token is None
            health = httpx.get(served.url + "/healthz").json()
            assert health["database"] == "ok"
            r = httpx.post(
                served.url + "/v1/accounts",
                json={"name": "Acme", "payment_model": "post_invoice"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201
    finally:
        drop_postgres(db)
