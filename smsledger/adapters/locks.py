"""Locks that hold among every process on one database: an account's turn to write, and
a background worker's right to run.

Account turns (``Ledger.turns``' ``across``)
--------------------------------------------
Writes to one account load its version, decide, and save the next version; two that
load the same version conflict and the loser loads and tries again. ``Turns`` makes the
writers of one process take turns per account first, but two API processes (``serve
--workers 2``, or two hosts) still raced: 60 concurrent sends to one account, split over
two processes on PostgreSQL, met conflicts on most saves, and ran out of retries (409).
Here a turn holds among all processes:

- PostgreSQL: a session advisory lock on the account's key (``pg_advisory_lock``), taken
  on a connection of a small pool of its own, held while the use case loads and saves
  (on the library's connections), released after. Why not ``pg_advisory_xact_lock`` at
  the start of the writing transaction: the library loads the aggregate on another
  connection before that transaction begins, so the lock would come after the version
  was read, and the conflict would stand. A row lock (``SELECT ... FOR UPDATE`` on a
  per-account row) has the same problem and needs a table. The wait is bounded by
  ``lock_timeout`` (what is left of ``Turns``' timeout): then ``ConcurrentUpdateError``,
  409 with ``Retry-After``. A process that dies mid-turn loses its connection, and the
  server releases its locks with it.
- SQLite: a one-byte ``lockf`` range lock per account in a file beside the database
  (``<db>-turns``), polled until the timeout. POSIX record locks belong to the process
  and the kernel drops them when it dies. (The one write lock of SQLite already puts the
  saves in a line, but not the loads before them.)

Worker leases (``lease``)
-------------------------
A background worker (``projections``, ``dispatcher``, ``sweeper``, ``mailer``,
``webhooks``) runs in one process at a time per database: it holds a lease for as long
as it runs, and a second process started beside it waits and takes over when the holder
stops or dies. PostgreSQL: a session advisory lock per worker name on a connection of its
own, held for the process's life, with TCP keepalives so a host that vanishes is noticed
too; the holder checks its connection every ``LEASE_CHECK_SECONDS`` and stops the
worker if it is lost (a restarted server has dropped the lock, and someone else may
hold it now). SQLite: an exclusive ``flock`` on ``<db>-<worker>.lease``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import threading
import time
from typing import TYPE_CHECKING

import psycopg
from psycopg_pool import ConnectionPool

from smsledger.domain.errors import ConcurrentUpdateError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from smsledger.adapters.storage import Database

log = logging.getLogger(__name__)

TURN_POOL_SIZE = 8
"""Connections for account turns per process: one per account whose turn is held at a
moment (the other writers of an account wait in ``Turns``, not here). Writes commit one
at a time anyway (the event table's lock), so more would only hold more connections of
the server's ``max_connections`` (docs/deployment.md, "Connections")."""
POLL_SECONDS = 0.002
POOL_SECONDS = 5.0
LEASE_CHECK_SECONDS = 1.0
"""How often a lease holder checks its connection, and a waiter tries again: a takeover
after the holder dies takes about this long."""
_KEEPALIVES = "keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3"
BUSY = "the account is busy with other changes; try again"


def lock_key(namespace: str, key: object) -> int:
    """A signed 64-bit key for ``key`` within ``namespace`` (a schema, a database file):
    advisory locks are per database, and two ledgers in two schemas share nothing."""
    digest = hashlib.blake2b(f"{namespace}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AccountTurns:
    """An account's turn among processes: ``hold(key, timeout)`` around its write."""

    def hold(self, key: object, timeout: float) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the turns keep open."""


class PostgresAccountTurns(AccountTurns):
    def __init__(self, database: Database, *, size: int = TURN_POOL_SIZE) -> None:
        self.namespace = f"turn:{database.schema}"
        self.pool = ConnectionPool(
            f"{database.conninfo()} application_name=smsledger-turns {_KEEPALIVES}",
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True},
            # As the views' pool: a connection that died with a restarted server is
            # replaced when it is handed out, not found out by the request using it.
            check=ConnectionPool.check_connection,
            open=False,
            name="smsledger-turns",
        )
        self._opened = False
        self._open_lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self, key: object, timeout: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        self._open()
        # Waiting for a connection is the database (down, or every turn connection
        # busy), not the account: at most POOL_SECONDS, then 503 like any other pool.
        with self.pool.connection(timeout=min(max(timeout, 0.001), POOL_SECONDS)) as conn:
            number = lock_key(self.namespace, key)
            wait_ms = max(int((deadline - time.monotonic()) * 1000), 1)  # 0 is "no limit"
            try:
                # One round trip: the select list is evaluated left to right.
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, false), pg_advisory_lock(%s)",
                    (f"{wait_ms}ms", number),
                )
            except psycopg.errors.LockNotAvailable:
                raise ConcurrentUpdateError(BUSY) from None
            try:
                yield
            finally:
                # A broken connection has lost the lock already; the pool drops it.
                with contextlib.suppress(psycopg.OperationalError):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (number,))

    def _open(self) -> None:
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self.pool.open(wait=False)
                    self._opened = True

    def close(self) -> None:
        if self._opened:
            self.pool.close()


class FileAccountTurns(AccountTurns):
    """Byte-range locks in one file. Threads of one process never block each other
    here (``Turns`` orders them); two accounts whose keys meet on one byte in the same
    process share a turn's release: rare (64-bit keys), and the version check remains."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.namespace = "turn"
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def hold(self, key: object, timeout: float) -> Iterator[None]:
        offset = lock_key(self.namespace, key) & (2**62 - 1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
                break
            except OSError as e:
                if e.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
            if time.monotonic() >= deadline:
                raise ConcurrentUpdateError(BUSY)
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the file drops any lock still held
            self._fd = -1


def account_turns(database: Database) -> AccountTurns | None:
    """The turns for ``database``; ``None`` for an in-memory SQLite (one process)."""
    if database.is_postgres:
        return PostgresAccountTurns(database)
    if database.path == ":memory:":
        return None
    return FileAccountTurns(f"{database.path}-turns")


# --- worker leases --------------------------------------------------------------------


class Lease:
    """The right to run one worker: ``acquire(stop)`` waits for it (``False`` if ``stop``
    came first), ``held()`` says whether it is still held, ``release()`` gives it up."""

    name: str = ""

    def acquire(self, stop: threading.Event) -> bool:
        raise NotImplementedError

    def held(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class PostgresLease(Lease):
    def __init__(self, database: Database, name: str) -> None:
        self.database = database
        self.name = name
        self.number = lock_key(f"lease:{database.schema}", name)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def acquire(self, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                if self._try():
                    return True
            except psycopg.Error as e:
                log.warning("lease %s: database unavailable (%s); trying again", self.name, e)
                self._drop()
            stop.wait(LEASE_CHECK_SECONDS)
        return False

    def _try(self) -> bool:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                f"{self.database.conninfo()} application_name=smsledger-{self.name} {_KEEPALIVES}",
                autocommit=True,
                connect_timeout=3,
            )
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.number,)).fetchone()
        return bool(row and row[0])

    def held(self) -> bool:
        if self._conn is None or self._conn.closed:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self._drop()
            return False
        return True

    def release(self) -> None:
        self._drop()  # closing the session releases its locks

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class FileLease(Lease):
    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self._fd = -1

    def acquire(self, stop: threading.Event) -> bool:
        while not stop.is_set():
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK):
                    raise
                stop.wait(LEASE_CHECK_SECONDS)
                continue
            self._fd = fd
            return True
        return False

    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _Unshared(Lease):
    """An in-memory SQLite: no other process can see it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._held = False

    def acquire(self, stop: threading.Event) -> bool:
        self._held = not stop.is_set()
        return self._held

    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        self._held = False


def lease_for(database: Database, name: str) -> Lease:
    if database.is_postgres:
        return PostgresLease(database, name)
    if database.path == ":memory:":
        return _Unshared(name)
    return FileLease(f"{database.path}-{name}.lease", name)


def leased(
    lease: Lease, run: Callable[[threading.Event], None]
) -> Callable[[threading.Event], None]:
    """``run(stop)`` while ``lease`` is held: wait for it, run, and when the lease is lost
    (the database restarted, the connection broke) stop the run and wait for it again.
    A run that ends by itself ends this too (its error, if any, raised here)."""

    def run_leased(stop: threading.Event) -> None:
        while not stop.is_set():
            if not lease.acquire(stop):
                return
            log.info("worker lease %s taken", lease.name)
            inner = threading.Event()
            failed: list[Exception] = []
            thread = threading.Thread(
                target=_capture, args=(run, inner, failed), name=f"leased-{lease.name}", daemon=True
            )
            thread.start()
            lost = False
            try:
                while thread.is_alive() and not stop.wait(LEASE_CHECK_SECONDS):
                    if not lease.held():
                        log.warning("worker lease %s lost; stopped until taken again", lease.name)
                        lost = True
                        break
            finally:
                inner.set()
                thread.join()
                lease.release()
            if failed:
                raise failed[0]
            if not lost:
                return

    return run_leased


def _capture(
    run: Callable[[threading.Event], None], stop: threading.Event, failed: list[Exception]
) -> None:
    try:
        run(stop)
    except Exception as e:
        failed.append(e)
