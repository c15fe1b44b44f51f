"""Fixtures: every storage scenario runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import compileall
from collections.abc import Iterator
from pathlib import Path

import pytest

from smsledger.adapters.migrate import migrate
from smsledger.adapters.storage import Database, memory_env
from smsledger.application.ledger import Ledger
from tests.support import FakeClock, drop_postgres, drop_run_schemas, new_postgres_database

BACKENDS = ["sqlite", "postgres"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """The project's bytecode, written once before any test starts a process. With
    ``PYTHONDONTWRITEBYTECODE`` set (as on the CI machine) nothing else writes it, and
    every ``smsledger`` process the suite starts compiled its ~110 modules from source:
    0.1-0.2 s of each start (``docs/deployment.md``). It goes where any other run puts it,
    ``__pycache__`` (ignored by git); an installed wheel has it from the install."""
    if hasattr(session.config, "workerinput"):
        return  # the controller writes it, once
    root = Path(__file__).resolve().parent.parent
    for package in ("smsledger", "api", "domain", "projections", "tests"):
        compileall.compile_dir(root / package, quiet=2)


@pytest.fixture(scope="session", autouse=True)
def _drop_leftover_schemas() -> Iterator[None]:
    yield
    drop_run_schemas()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database of each kind; PostgreSQL gets its own schema."""
    if request.param == "sqlite":
        db = Database(kind="sqlite", path=str(tmp_path / "ledger.db"))
        migrate(db)
        yield db
        return
    db = new_postgres_database()
    migrate(db)
    try:
        yield db
    finally:
        drop_postgres(db)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(database: Database, clock: FakeClock) -> Iterator[Ledger]:
    app = Ledger(database.eventsourcing_env(), clock=clock)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def memory_ledger(clock: FakeClock) -> Iterator[Ledger]:
    """The in-memory store, for unit tests of the use cases."""
    app = Ledger(memory_env(), clock=clock)
    try:
        yield app
    finally:
        app.close()
