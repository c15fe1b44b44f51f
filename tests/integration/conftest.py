"""Fixtures for the storage scenarios: plain connections to the views' database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smsledger.adapters import recorders
from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.projections.db import ViewDatabase


@pytest.fixture
def views(database: Database) -> Iterator[ViewDatabase]:
    v = open_views(database)
    yield v
    v.close()


@pytest.fixture(params=["as_sized", "as_large"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each write as its size takes it, or as a large one would: PostgreSQL's ``COPY``
    (for report rows, the upsert counting the new ids), SQLite's one ``executemany``."""
    if request.param == "as_large":
        monkeypatch.setattr(recorders, "COPY_FROM_ROWS", 1)
        monkeypatch.setattr(recorders, "SQLITE_MANY_FROM_ROWS", 1)
    return str(request.param)
