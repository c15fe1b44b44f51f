"""Test helpers shared across the suite: a clock the test controls, databases per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from smsledger.adapters.storage import Database
from smsledger.projections.queries import Queries, build_runner

if TYPE_CHECKING:
    from uuid import UUID

    from smsledger.application.ledger import Ledger
    from smsledger.projections.db import ViewDatabase
    from smsledger.projections.runner import ProjectionRunner

PG_ADMIN = os.environ.get("SMSLEDGER_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
RUN_ID = uuid.uuid4().hex[:8]


@dataclass
class FakeClock:
    """Time passed in: a test moves it explicitly."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now

    def set(self, at: datetime) -> None:
        self.now = at


def new_postgres_database() -> Database:
    """A fresh schema for one test in this run; drop it with ``drop_postgres``."""
    base = Database.from_url(PG_ADMIN)
    schema = f"t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    return Database(
        kind="postgres",
        host=base.host,
        port=base.port,
        user=base.user,
        password=base.password,
        dbname=base.dbname,
        schema=schema,
    )


def drop_postgres(db: Database) -> None:
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE')


def drop_run_schemas() -> None:
    """Drop whatever this run left behind (a test killed midway, say)."""
    base = Database.from_url(PG_ADMIN)
    with psycopg.connect(base.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"t_{RUN_ID}_%",)
        ).fetchall()
        for (schema,) in rows:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def url_of(db: Database) -> str:
    if db.kind == "sqlite":
        return f"sqlite:///{db.path}"
    auth = db.user + (f":{db.password}" if db.password else "")
    return f"postgresql://{auth}@{db.host}:{db.port}/{db.dbname}?schema={db.schema}"


VIEW_TABLES = {
    "view_messages": "id",
    "view_accounts": "id",
    "view_ledger_entries": "account_id, seq",
    "view_invoices": "account_id, period",
    "view_invoice_lines": "account_id, period, line_key",
    "view_invoice_messages": "message_id",
    "view_inbound_messages": "id",
    "view_number_events": "seq",
    "view_contacts": "id",
    "view_groups": "id",
    "view_group_members": "group_id, msisdn",
}
"""Every read-model table and the key that orders its rows, for comparing whole views."""


def dump_views(views: ViewDatabase) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model, in key order."""
    out = {}
    with views.reading() as cur:
        for table, key in VIEW_TABLES.items():
            cur.execute(f"SELECT * FROM {table} ORDER BY {key}")
            out[table] = [tuple(r) for r in cur.fetchall()]
    return out


class ReadSide(Queries):
    """The queries and the runner that feeds them, for tests that drive both."""

    def __init__(
        self, ledger: Ledger, views: ViewDatabase, runner: ProjectionRunner | None = None
    ) -> None:
        super().__init__(ledger, views)
        self.application = ledger
        self.runner = runner if runner is not None else build_runner(ledger, views)

    def issue_invoice(self, account_id: UUID, period: str) -> tuple[dict[str, Any], int | None]:
        """What ``POST .../invoices/{period}/issue`` does: issue, catch up, read."""
        position = self.application.issue_invoice(account_id, period).position
        self.runner.catch_up(position)
        return self.invoice(account_id, period), position


def write_raw_event(ledger: Ledger, originator_id: UUID, topic: str, state: bytes) -> int:
    """Append an event straight into the store, past the domain and the transcoder, as
    the aggregate's next version: a poison event for the read side. Its log position."""
    from eventsourcing.persistence import StoredEvent

    last = ledger.recorder.select_events(originator_id, desc=True, limit=1)
    version = last[0].originator_version + 1 if last else 1
    ids = ledger.recorder.insert_events([StoredEvent(originator_id, version, topic, state)])
    assert ids, "the application recorder gives the notification ids"
    return int(ids[-1])


def rewrite_raw_event(db: Database, originator_id: UUID, position: int, state: bytes) -> None:
    """Replace a stored event's state in place: the repair of a bad row, by hand."""
    if db.kind == "sqlite":
        import sqlite3

        with contextlib.closing(sqlite3.connect(db.path)) as lite, lite:
            lite.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state, position))
        return
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute(
            f'UPDATE "{db.schema}".ledger_events SET state = %s '
            "WHERE originator_id = %s AND notification_id = %s",
            (state, originator_id, position),
        )


def copy_checkout(root: Path, dest: Path) -> Path:
    """What a clean checkout of ``root`` holds (tracked files, and new ones not yet
    ignored), copied into ``dest``: builds from it share nothing with the tree's own."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in (f for f in listed if f and (root / f).is_file()):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, dest / name)
    return dest
