"""Fixtures for the storage scenarios: plain connections to the views' database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.projections.db import ViewDatabase


@pytest.fixture
def views(database: Database) -> Iterator[ViewDatabase]:
    v = open_views(database)
    yield v
    v.close()
