"""The wheel, as a user gets it: built from the checkout, installed (not editable) into a
fresh virtual environment, and run from an empty directory on both databases.

A plain ``pip install .`` once gave a ``smsledger`` whose ``serve`` crashed and whose
``migrate`` created no event store; the editable install of the checkout hid both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.e2e.serving import clean_env, serve
from tests.support import copy_checkout, drop_postgres, new_postgres_database, url_of

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "op-wheel-token-0123456789abcdef"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``smsledger`` script of a fresh venv with only the wheel (and its deps)."""
    work = tmp_path_factory.mktemp("wheel")
    source = copy_checkout(ROOT, work / "src")
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*build, "--wheel-dir", str(work / "dist"), str(source)],
        check=True,
        timeout=300,
    )
    [wheel] = (work / "dist").glob("smsledger-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {n.split("/")[0] for n in archive.namelist()}
        names = set(archive.namelist())
    assert {t for t in tops if not t.endswith(".dist-info")} == {"smsledger"}
    assert "smsledger/migrations/postgres/0001_event_store.sql" in names
    assert "smsledger/domain/prices.json" in names
    assert "smsledger/api/templates/console.css" in names
    assert "smsledger/api/templates/console_timeline.html" in names
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    subprocess.run(
        [str(env_dir / "bin" / "pip"), "install", "--quiet", str(wheel)],
        check=True,
        timeout=900,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return env_dir / "bin" / "smsledger"


def open_account_and_send(url: str, token: str) -> None:
    operator = {"Authorization": f"Bearer {token}"}
    r = httpx.post(
        url + "/v1/accounts",
        json={"name": "Wheel AB", "payment_model": "balance"},
        headers=operator,
    )
    assert r.status_code == 201, r.text
    account = r.json()
    r = httpx.post(
        url + f"/v1/accounts/{account['id']}/top-ups",
        json={"amount": 1000, "reference": "first"},
        headers=operator,
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        url + "/v1/messages",
        json={"sender": "Wheel", "recipients": ["+46731234567"], "body": "From the wheel"},
        headers={"Authorization": f"Bearer {account['admin_key']}"},
    )
    assert r.status_code == 202, r.text
    [message] = r.json()["messages"]
    assert message["status"]["name"] == "Funded"
    assert message["price"] == 45


def test_the_installed_wheel_serves_on_sqlite_from_an_empty_directory(
    installed: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with serve(empty, clean_env(), executable=str(installed)) as served:
        token = served.printed_token
        assert token is not None
        open_account_and_send(served.url, token)
        # The console's page and stylesheet come from the installed package.
        login = httpx.get(served.url + "/console/login")
        assert login.status_code == 200
        assert "/console/static/console.css" in login.text
        css = httpx.get(served.url + "/console/static/console.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
    assert (empty / "smsledger.db").exists()


def test_the_installed_wheel_migrates_and_serves_on_postgres(
    installed: Path, tmp_path: Path
) -> None:
    db = new_postgres_database()
    env = clean_env(SMSLEDGER_DATABASE_URL=url_of(db), SMSLEDGER_OPERATOR_TOKEN=TOKEN)
    try:
        done = subprocess.run(
            [str(installed), "migrate"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        shipped = len(list((ROOT / "migrations" / "postgres").glob("*.sql")))
        assert f"applied {shipped} migration(s)" in done.stdout
        with serve(tmp_path, env, executable=str(installed)) as served:
            open_account_and_send(served.url, TOKEN)
    finally:
        drop_postgres(db)
