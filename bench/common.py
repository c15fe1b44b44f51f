"""Shared benchmark plumbing: a throwaway PostgreSQL schema or SQLite file per workload,
timing helpers, and the result record every workload returns.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from smsledger.migrate import migrate
from smsledger.storage import Database

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PG_URL = os.environ.get("SMSLEDGER_BENCH_PG", "postgresql://root@127.0.0.1:5432/test")


@dataclass
class Result:
    """One measured variant of one workload."""

    workload: str
    variant: str  # "limit", "plain", "naive-es", "smsledger"
    unit: str  # what the value counts, e.g. "messages/s"
    samples: list[float]
    backend: str = "postgres"
    extra: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def as_dict(self) -> dict[str, object]:
        return {
            "workload": self.workload,
            "variant": self.variant,
            "backend": self.backend,
            "unit": self.unit,
            "median": self.median,
            "samples": self.samples,
            **self.extra,
        }


@contextlib.contextmanager
def scratch_database(kind: str = "postgres") -> Iterator[Database]:
    """A migrated, empty database that is dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(kind="sqlite", path=str(Path(tmp) / "bench.db"))
            migrate(db)
            yield db
        return
    base = Database.from_url(PG_URL)
    db = Database(
        kind="postgres",
        host=base.host,
        port=base.port,
        user=base.user,
        password=base.password,
        dbname=base.dbname,
        schema=f"bench_{uuid.uuid4().hex[:10]}",
    )
    migrate(db)
    try:
        yield db
    finally:
        with psycopg.connect(db.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE')


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` took."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def swedish_numbers(n: int, offset: int = 0) -> list[str]:
    """``n`` distinct valid Swedish mobile numbers."""
    return [f"+4670{(offset + i) % 10_000_000:07d}" for i in range(n)]
