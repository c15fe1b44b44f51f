"""Work after the commit cannot fail a use case: the events stand, so the answer must.

The snapshot store here is real and refuses every write (a trigger on its table), the
way a busy or broken store would after the events were already committed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from smsledger.domain.account import Account

if TYPE_CHECKING:
    import pytest

    from smsledger.adapters.storage import Database
    from smsledger.application.ledger import Ledger
    from smsledger.projections.db import ViewDatabase

SE = "+46701234567"


def _refuse_snapshots(database: Database, views: ViewDatabase) -> None:
    with views.transaction() as cur:
        if database.is_postgres:
            cur.execute(
                "CREATE FUNCTION refuse_snapshot() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'the snapshot store refuses'; END $$"
            )
            cur.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON ledger_snapshots "
                "FOR EACH ROW EXECUTE FUNCTION refuse_snapshot()"
            )
        else:
            cur.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON stored_snapshots "
                "BEGIN SELECT RAISE(ABORT, 'the snapshot store refuses'); END"
            )


def _allow_snapshots(views: ViewDatabase, database: Database) -> None:
    with views.transaction() as cur:
        cur.execute(
            "DROP TRIGGER refuse ON ledger_snapshots"
            if database.is_postgres
            else "DROP TRIGGER refuse"
        )


def _snapshot_count(views: ViewDatabase, database: Database) -> int:
    table = "ledger_snapshots" if database.is_postgres else "stored_snapshots"
    with views.reading() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return int(cur.fetchone()[0])


def test_a_send_whose_snapshot_fails_is_answered_and_charged_once(
    ledger: Ledger,
    views: ViewDatabase,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    account: Account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 1000, "initial")
    before = _snapshot_count(views, database)
    # The snapshot store starts refusing writes.
    _refuse_snapshots(database, views)
    # A send still gets its receipt: the charge was committed before the snapshot.
    with caplog.at_level(logging.WARNING, logger="smsledger.application.ledger"):
        receipt = ledger.send_batch(account.id, sender="Acme", recipients=[SE], body="hi")
    assert receipt.total_price > 0
    assert receipt.position is not None
    # The failure is logged, not raised; no snapshot was written.
    assert any("snapshot not taken" in r.getMessage() for r in caplog.records)
    assert _snapshot_count(views, database) == before
    # The ledger holds the charge exactly once, and loads right without the snapshot.
    assert ledger.get_account(account.id).balance == 1000 - receipt.total_price
    charged = [e for e in ledger.events.get(account.id) if isinstance(e, Account.BatchCharged)]  # type: ignore[attr-defined]
    assert len(charged) == 1
    # Once the store takes writes again, the next heavy event snapshots as before.
    _allow_snapshots(views, database)
    ledger.send_batch(account.id, sender="Acme", recipients=[SE], body="again")
    assert _snapshot_count(views, database) == before + 1
    assert ledger.get_account(account.id).balance == 1000 - 2 * receipt.total_price
