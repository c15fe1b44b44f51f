"""Plain connections to the database the views live in: the ``ViewDatabase`` port
(``smsledger.projections.db``) on SQLite and on PostgreSQL.

``open_views(database)`` picks the implementation.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from smsledger.adapters.storage import unavailable
from smsledger.projections.db import Dialect, ViewDatabase

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator

    from smsledger.adapters.storage import Database


def open_views(db: Database) -> ViewDatabase:
    """Connections to ``db`` for the views, the workers and the key store."""
    if db.is_postgres:
        return PostgresViewDatabase(db)
    return SQLiteViewDatabase(db)


class SQLiteViewDatabase(ViewDatabase):
    """One connection per thread: SQLite in WAL mode has one writer and many readers."""

    dialect: Dialect = "sqlite"

    def __init__(self, db: Database) -> None:
        self.db = db
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.db.sqlite_connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        conn = self._conn()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Cursor]:
        cur = self._conn().cursor()
        try:
            yield cur
        finally:
            cur.close()

    def is_transient(self, error: BaseException) -> bool:
        return unavailable(error)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


POOL_TIMEOUT = 5.0
"""Seconds a request waits for a connection before it answers 503: while the database
is down, the pool's reconnect attempts fail and nobody should hang for the default 30."""


class PostgresViewDatabase(ViewDatabase):
    dialect: Dialect = "postgres"

    def __init__(self, db: Database, *, max_size: int = 8) -> None:
        self.db = db
        schema = db.schema

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            conn.commit()

        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            db.conninfo(),
            min_size=1,
            max_size=max_size,
            configure=configure,
            # A connection that died in the pool (the server restarted) is found out
            # and replaced when it is handed out, not by the request that uses it.
            check=ConnectionPool.check_connection,
            timeout=POOL_TIMEOUT,
            open=True,
            name=f"views-{schema}",
        )

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    @contextmanager
    def reading(self) -> Iterator[psycopg.Cursor[Any]]:
        with self.pool.connection() as conn:
            conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    yield cur
            finally:
                if not conn.broken:  # a lost one is discarded by the pool as it is
                    conn.autocommit = False

    def is_transient(self, error: BaseException) -> bool:
        return unavailable(error)

    def close(self) -> None:
        self.pool.close()
