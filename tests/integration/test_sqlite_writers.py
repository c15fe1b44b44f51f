"""SQLite's one writer: writers queue in order for it, readers never wait behind them.

SQLite only: PostgreSQL has no such pool (its writers are many connections, and
its readers never wait for them).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest

from smsledger.adapters.migrate import migrate
from smsledger.adapters.recorders import SQLITE_QUEUE_SECONDS, QueuedWriterPool
from smsledger.adapters.storage import Database
from smsledger.application.ledger import Ledger

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[QueuedWriterPool]:
    """The pool of a ledger on a SQLite file (kept open while the test runs)."""
    db = Database(kind="sqlite", path=str(tmp_path / "ledger.db"))
    ledger = Ledger(db.eventsourcing_env())
    found = ledger.factory.datastore.pool  # type: ignore[attr-defined]
    assert isinstance(found, QueuedWriterPool)
    yield found
    ledger.close()


def test_the_ledger_waits_longer_than_five_seconds_for_the_writer(
    pool: QueuedWriterPool,
) -> None:
    assert pool.pool_timeout == SQLITE_QUEUE_SECONDS >= 30


def test_a_reader_is_served_while_writers_queue(pool: QueuedWriterPool) -> None:
    # One writer holds the connection; a second one queues for it.
    first = pool.get_connection(is_writer=True)
    second_got: list[object] = []
    queued = threading.Thread(
        target=lambda: second_got.append(pool.get_connection(timeout=5, is_writer=True))
    )
    queued.start()
    time.sleep(0.1)  # the second writer now waits for the writer lock
    # A reader does not queue behind it (the projection runner reads the log while it
    # holds the views' file lock, which the first writer may be waiting for).
    started = time.monotonic()
    reader = pool.get_connection(timeout=1, is_writer=False)
    assert time.monotonic() - started < 0.5
    pool.put_connection(reader)
    # The queued writer gets its turn when the first one is done, not before.
    assert second_got == []
    pool.put_connection(first)
    queued.join(5)
    assert len(second_got) == 1
    pool.put_connection(second_got[0])  # type: ignore[arg-type]


def test_big_writes_of_two_ledgers_on_one_file_interleave_without_failing(
    tmp_path: Path,
) -> None:
    # Two ledgers (two pools: two processes of serve --workers on one file) send
    # batches big enough for the one-executemany insert, to two accounts at once.
    # Neither may fail for the other's commit, and every event gets its own id.
    db = Database(kind="sqlite", path=str(tmp_path / "ledger.db"))
    migrate(db)
    ledgers = [Ledger(db.eventsourcing_env()) for _ in range(2)]
    try:
        accounts = [
            ledger.open_account(f"Acme {n}", payment_model="post_invoice").value.id
            for n, ledger in enumerate(ledgers)
        ]
        errors: list[BaseException] = []
        sent: list[int] = []

        def send(n: int) -> None:
            try:
                for batch in range(6):
                    recipients = [f"+46701{n}{batch}{i:04d}" for i in range(60)]
                    receipt = ledgers[n].send_batch(
                        accounts[n], sender="Acme", recipients=recipients, body="Hi"
                    )
                    sent.append(sum(1 for line in receipt.lines if line["status"] < 400))
            except BaseException as e:  # reported below, in the test thread
                errors.append(e)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert sent == [60] * 12
        ids = [n.id for n in ledgers[0].recorder.select_notifications(1, 100_000)]
        assert ids == list(range(1, len(ids) + 1))
        assert len(ids) >= 12 * 121
    finally:
        for ledger in ledgers:
            ledger.close()
