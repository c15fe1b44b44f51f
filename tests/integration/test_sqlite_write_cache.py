"""SQLite's big writes: the page cache they are given, and the table they fill.

SQLite only: the page cache and ``WITHOUT ROWID`` are SQLite's.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any
from uuid import UUID

from smsledger.adapters.migrate import _split, migrate, migration_files
from smsledger.adapters.recorders import SQLITE_DEFAULT_CACHE_KIB, SQLiteLedgerRecorder
from smsledger.adapters.storage import Database
from smsledger.application.ledger import Ledger

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from tests.support import FakeClock


def _numbers(count: int) -> list[str]:
    return [f"+4670{i:07d}" for i in range(count)]


def test_a_big_write_has_a_bigger_cache_which_its_connection_gives_back(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(kind="sqlite", path=str(tmp_path / "ledger.db"))
    migrate(db)
    seen: list[tuple[int, sqlite3.Connection]] = []
    library = SQLiteLedgerRecorder._insert_events

    def spy(self: SQLiteLedgerRecorder, c: Any, *args: Any, **kwargs: Any) -> Any:
        conn = c.sqlite_cursor.connection
        seen.append((conn.execute("PRAGMA cache_size").fetchone()[0], conn))
        return library(self, c, *args, **kwargs)

    monkeypatch.setattr(SQLiteLedgerRecorder, "_insert_events", spy)
    ledger = Ledger(db.eventsourcing_env(), clock=clock)
    try:
        account = ledger.open_account("Big", payment_model="post_invoice").value
        assert seen[-1][0] == -SQLITE_DEFAULT_CACHE_KIB  # a small write: as it was
        receipt = ledger.send_batch(account.id, sender="Big", recipients=_numbers(2000), body="Hi")
        assert sum(1 for line in receipt.lines if line["status"] == 103) == 2000
        cache, conn = seen[-1]
        assert cache < -3 * SQLITE_DEFAULT_CACHE_KIB  # 4,001 events, 2,000 state rows: ~6 MiB
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == -SQLITE_DEFAULT_CACHE_KIB
        # The rows went in: messages load from them.
        found = ledger.get_messages([UUID(line["id"]) for line in receipt.lines[:3]])
        assert len(found) == 3
    finally:
        ledger.close()


def test_message_states_becomes_a_rowid_table_keeping_its_rows(tmp_path: Path) -> None:
    db = Database(kind="sqlite", path=str(tmp_path / "ledger.db"))
    conn = db.sqlite_connect()
    conn.execute(
        "CREATE TABLE schema_migrations ("
        "version TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    for migration in migration_files("sqlite"):  # the store as it was up to 0014
        if migration.stem >= "0015":
            break
        for statement in _split(migration.text):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (migration.stem,))
    conn.execute("INSERT INTO message_states VALUES ('ab' || hex(randomblob(15)), 2, 1, x'7b7d')")
    before = conn.execute("SELECT * FROM message_states").fetchall()

    def table_sql() -> str:
        row = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'message_states'")
        return str(row.fetchone()[0])

    assert "WITHOUT ROWID" in table_sql()
    migrate(db)
    assert "WITHOUT ROWID" not in table_sql()
    assert conn.execute("SELECT * FROM message_states").fetchall() == before
    # Still keyed by the message: a second row for it conflicts.
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT state FROM message_states WHERE message_id = ?", ("x",)
    ).fetchall()
    assert "USING INDEX sqlite_autoindex_message_states_1" in str(plan)
    conn.close()
