"""A ledger written before the one-house move still loads, projects and reconciles.

``tests/fixtures/pre_house.db`` was written by the code of commit 2630fb3 (the script
that made it is in that commit), with ``pre_house.json`` holding what that code answered
for it: every message's history, the reconciliation and invoices of both months, the
balances. Stored topics are stable names (``smsledger:Message.Funded``), so moving the
modules must change none of those answers, on SQLite (the file itself) and on
PostgreSQL (its events copied into a fresh schema).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import pytest

from smsledger.adapters.migrate import migrate
from smsledger.adapters.storage import Database
from smsledger.bootstrap import build
from smsledger.settings import Settings
from tests.support import drop_postgres, dump_views, new_postgres_database

if TYPE_CHECKING:
    from collections.abc import Iterator

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "pre_house.json").read_text())


def plain(value: Any) -> Any:
    """What the fixture's writer did to its answers: JSON, with str() for the rest."""
    return json.loads(json.dumps(value, default=str))


_UTC_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T[0-9:.]+\+00:00")


def zulu(value: Any) -> Any:
    """The old answer with its times in the one format answers use since issue 11: the
    times inside an event's ``data`` are now RFC 3339 in UTC with ``Z``, as every other
    time the API answers (what is stored is unchanged); a report's ``raw`` payload is
    the carrier's own text, kept as it came."""
    if isinstance(value, dict):
        return {k: v if k == "raw" else zulu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [zulu(v) for v in value]
    if isinstance(value, str) and _UTC_ISO.fullmatch(value):
        return value.removesuffix("+00:00") + "Z"
    return value


def copy_into_postgres(source: Path, db: Database) -> None:
    """The old events and snapshots, in log order, into a freshly migrated schema."""
    with sqlite3.connect(source) as lite:
        events = lite.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events "
            "ORDER BY rowid"
        ).fetchall()
        snapshots = lite.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_snapshots"
        ).fetchall()
    with psycopg.connect(db.conninfo()) as conn, conn.cursor() as cur:
        cur.execute(f'SET search_path TO "{db.schema}"')
        for table, rows in (("ledger_events", events), ("ledger_snapshots", snapshots)):
            cur.executemany(
                f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)",
                [(UUID(oid), version, topic, state) for oid, version, topic, state in rows],
            )


@pytest.fixture(params=["sqlite", "postgres"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "pre_house.db"
        shutil.copy(FIXTURES / "pre_house.db", path)
        db = Database(kind="sqlite", path=str(path))
        migrate(db)  # whatever came after it applies on top
        yield db
        return
    db = new_postgres_database()
    migrate(db)
    copy_into_postgres(FIXTURES / "pre_house.db", db)
    try:
        yield db
    finally:
        drop_postgres(db)


def test_a_ledger_written_before_the_move_loads_projects_and_reconciles(
    old_database: Database,
) -> None:
    services = build(Settings(gateway="none", workers="none"), database=old_database)
    try:
        before = dump_views(services.views)
        # Every read model rebuilt from the old log by the new code...
        for projection in services.runner.projections:
            services.runner.rebuild(projection.name)
        if old_database.kind == "sqlite":
            # ...is row for row what the old code had built (its views are in the file),
            # but for columns added since, which the old rows hold as NULL and a rebuild
            # fills: view_invoice_messages.charge_period (0008), view_messages.body (0013).
            after = dump_views(services.views)
            for table in ("view_invoice_messages", "view_messages"):
                assert all(row[-1] is None for row in before[table])
                assert all(row[-1] is not None for row in after[table])
                after[table] = [(*row[:-1], None) for row in after[table]]
            # Read models added since (0010) are empty in the old file and built by the
            # rebuild: the old ledger's block-list changes become number events.
            for table in ("view_inbound_messages", "view_number_events"):
                assert before.pop(table) == []
            assert after.pop("view_inbound_messages") == []
            changes = [(r[2], r[3], r[4], r[5], r[7]) for r in after.pop("view_number_events")]
            assert changes == [
                # no inbound_id nor message_id in old events
                ("+46701230099", "blocked", "manual", None, None),
                ("+46701230099", "unblocked", None, None, None),
            ]
            assert after == before
        queries, ledger = services.queries, services.ledger
        # Every aggregate loads: accounts from their snapshots, messages, batches.
        for account_id in EXPECTED["accounts"]:
            assert ledger.get_account(UUID(account_id)).currency == "SEK"
        for message_id, history in EXPECTED["messages"].items():
            assert ledger.get_message(UUID(message_id)).id == UUID(message_id)
            answer = plain(queries.history(UUID(message_id)))
            assert answer == {
                **history,
                "events": [{**event, "data": zulu(event["data"])} for event in history["events"]],
            }
        for period, report in EXPECTED["reconciliation"].items():
            assert report["ok"]
            answer = plain(queries.reconciliation(period))
            # Fields added since: add-on fees (none in a ledger from before add-ons).
            for account in answer["accounts"]:
                assert account.pop("fees") == 0
            assert answer == report
        for key, invoice in EXPECTED["invoices"].items():
            account_id, period = key.split("/")
            assert plain(queries.invoice(UUID(account_id), period)) == invoice
        for account_id, balance in EXPECTED["balances"].items():
            assert queries.balance(UUID(account_id)) == balance
    finally:
        services.close()
