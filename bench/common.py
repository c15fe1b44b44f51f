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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import psycopg.sql

from smsledger.adapters.migrate import migrate
from smsledger.adapters.storage import Database

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from smsledger.application.ledger import Ledger

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


def copy_rows(db: Database, after: int, upto: int, runs: int) -> tuple[list[float], int]:
    """The limit of a write: seconds to ``COPY`` the event rows with notification ids in
    (``after``, ``upto``] into a fresh table like the event table, once per run (a new
    table each time, in its own transaction); and the number of rows."""
    assert db.is_postgres
    schema = psycopg.sql.Identifier(db.schema)
    seconds: list[float] = []
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            psycopg.sql.SQL(
                "SELECT originator_id, originator_version, topic, state FROM {}.ledger_events "
                "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id"
            ).format(schema),
            (after, upto),
        ).fetchall()
        for _ in range(runs):
            table = psycopg.sql.Identifier(f"copy_{uuid.uuid4().hex[:8]}")
            conn.execute(
                psycopg.sql.SQL("CREATE TABLE {}.{} (LIKE {}.ledger_events INCLUDING ALL)").format(
                    schema, table, schema
                )
            )
            start = time.perf_counter()
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(
                    psycopg.sql.SQL(
                        "COPY {}.{} (originator_id, originator_version, topic, state) FROM STDIN"
                    ).format(schema, table)
                ) as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            seconds.append(time.perf_counter() - start)
            conn.execute(psycopg.sql.SQL("DROP TABLE {}.{}").format(schema, table))
    return seconds, len(rows)


def insert_rows_sqlite(db: Database, after: int, upto: int, runs: int) -> tuple[list[float], int]:
    """SQLite's limit of a write (it has no COPY): seconds to insert the event rows with
    rowids in (``after``, ``upto``] into a fresh table shaped like the event table, with
    one ``executemany`` in one transaction, once per run; and the number of rows."""
    assert not db.is_postgres
    conn = db.sqlite_connect()
    try:
        rows = conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (after, upto),
        ).fetchall()
        seconds: list[float] = []
        for _ in range(runs):
            table = f"copy_{uuid.uuid4().hex[:8]}"
            conn.execute(
                f"CREATE TABLE {table} (originator_id TEXT, originator_version INTEGER, "
                "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
            )
            start = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
            seconds.append(time.perf_counter() - start)
            conn.execute(f"DROP TABLE {table}")
    finally:
        conn.close()
    return seconds, len(rows)


def hand_off(ledger: Ledger, message_ids: list[uuid.UUID]) -> None:
    """Record Sending then DeliveredToGateway for these funded messages, 1,000 a
    transaction, as the dispatcher does: after this they take delivery reports."""
    for i in range(0, len(message_ids), 1000):
        chunk = message_ids[i : i + 1000]
        now = datetime.now(UTC)
        ledger.start_sending(chunk, now)
        ledger.record_hand_offs({m: f"gw-{m.hex[:8]}" for m in chunk}, {}, now)
