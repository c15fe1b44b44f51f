"""An account's turn holds among processes (``smsledger.adapters.locks``).

Two services built on one database stand for two API processes: each has its own
``Turns`` and its own connections, so only the cross-process turn keeps their writes to
one account from loading the same version. With it, no save conflicts at all: every
send succeeds even when a conflict may not be retried once. The SQLite turn is a
``lockf`` range lock, which is per process, so it is proved with a real second process.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
from psycopg_pool import PoolTimeout

from smsledger.adapters.locks import FileAccountTurns, PostgresAccountTurns
from smsledger.adapters.storage import Database, unavailable
from smsledger.bootstrap import build
from smsledger.domain.account import Account
from smsledger.domain.errors import ConcurrentUpdateError
from smsledger.settings import Settings
from tests.e2e.serving import free_port

if TYPE_CHECKING:
    from pathlib import Path

PRICE = 45


def test_two_processes_sends_to_one_account_never_conflict(database: Database) -> None:
    if not database.is_postgres:
        pytest.skip("the SQLite turn is per process: see the subprocess test below")
    settings = Settings(gateway="none", workers="none")
    one, two = build(settings, database=database), build(settings, database=database)
    try:
        account = one.ledger.open_account("Acme").value
        one.ledger.top_up(account.id, 40 * PRICE, "initial")
        for services in (one, two):
            services.ledger.max_retries = 1  # a conflict would fail the send at once

        def send(n: int) -> int:
            ledger = (one, two)[n % 2].ledger
            receipt = ledger.send_batch(
                account.id, sender="Acme", recipients=[f"+4670{n:07d}"], body=f"hi {n}"
            )
            return receipt.total_price

        with ThreadPoolExecutor(24) as pool:
            prices = list(pool.map(send, range(48)))
        # 40 funded, 8 short of balance; the account's events say the same, each once.
        assert sorted(prices) == [0] * 8 + [PRICE] * 40
        charges = [
            mid
            for e in one.ledger.events.get(account.id)
            if isinstance(e, Account.BatchCharged)  # type: ignore[attr-defined]
            for mid, _ in e.charges
        ]
        assert len(charges) == len(set(charges)) == 40
        assert one.ledger.get_account(account.id).balance == 0
    finally:
        one.close()
        two.close()


def test_a_postgres_turn_held_elsewhere_times_out_as_busy(database: Database) -> None:
    if not database.is_postgres:
        pytest.skip("PostgreSQL's advisory lock")
    first, second = PostgresAccountTurns(database), PostgresAccountTurns(database)
    key = uuid.uuid4()
    try:
        with first.hold(key, 1.0):
            started = time.monotonic()
            with pytest.raises(ConcurrentUpdateError), second.hold(key, 0.3):
                pass
            waited = time.monotonic() - started
            assert 0.25 <= waited < 2.0
            with second.hold(uuid.uuid4(), 0.3):  # another account is not held up
                pass
        with second.hold(key, 0.3):  # released by the first
            pass
    finally:
        first.close()
        second.close()


_HOLDER = """
import sys, time
from smsledger.adapters.locks import FileAccountTurns
turns = FileAccountTurns(sys.argv[1])
with turns.hold(sys.argv[2], 5.0):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def test_a_sqlite_turn_holds_against_another_process_until_it_ends(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db-turns")
    key = str(uuid.uuid4())
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, path, key, "30"], stdout=subprocess.PIPE, text=True
    )
    turns = FileAccountTurns(path)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConcurrentUpdateError), turns.hold(key, 0.2):
            pass
        with turns.hold(str(uuid.uuid4()), 0.2):  # another account's byte is free
            pass
        # The holder dies mid-turn (kill -9): the kernel drops its lock.
        holder.kill()
        holder.wait(5)
        with turns.hold(key, 2.0):
            pass
    finally:
        holder.kill()
        holder.wait(5)
        turns.close()


def test_a_turn_on_an_unreachable_database_is_unavailable_within_seconds() -> None:
    # The database, not the account: the API answers 503 + Retry-After, and the wait
    # for a connection is the pool's 5 s, not what is left of the turn's 30.
    gone = Database(kind="postgres", host="127.0.0.1", port=free_port(), user="root", dbname="x")
    turns = PostgresAccountTurns(gone)
    started = time.monotonic()
    try:
        with pytest.raises(PoolTimeout) as e, turns.hold(uuid.uuid4(), 30.0):
            pass
    finally:
        turns.close()
    assert time.monotonic() - started < 8.0
    assert unavailable(e.value)
