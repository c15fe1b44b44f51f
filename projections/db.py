"""Plain connections to the database the views live in (the event store's own database,
so a view's rows and its tracking position commit in one transaction).

Views write SQL in their own dialect; ``ViewDatabase.dialect`` says which.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator

    from smsledger.storage import Database

Dialect = Literal["sqlite", "postgres"]


class ViewDatabase(ABC):
    dialect: Dialect

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction: committed on exit, rolled back on error."""

    @abstractmethod
    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor for reads (autocommit, sees everything committed)."""

    @abstractmethod
    def close(self) -> None:
        """Release every connection."""

    @staticmethod
    def open(db: Database) -> ViewDatabase:
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

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


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
                conn.autocommit = False

    def close(self) -> None:
        self.pool.close()
