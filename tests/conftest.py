"""Fixtures: every storage scenario runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smsledger.adapters.migrate import migrate
from smsledger.adapters.storage import Database, memory_env
from smsledger.application.ledger import Ledger
from tests.support import FakeClock, drop_postgres, drop_run_schemas, new_postgres_database

BACKENDS = ["sqlite", "postgres"]


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
