"""Fixtures for the storage scenarios: plain connections to the views' database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from projections.db import ViewDatabase
from smsledger.storage import Database


@pytest.fixture
def views(database: Database) -> Iterator[ViewDatabase]:
    v = ViewDatabase.open(database)
    yield v
    v.close()
