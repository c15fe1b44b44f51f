"""Where events and views live: SQLite (embedded default) or PostgreSQL (production).

``SMSLEDGER_DATABASE_URL`` picks the database; this module turns it into the
eventsourcing library's environment, and gives plain DB-API connections for the views.
A PostgreSQL URL may carry ``?schema=NAME`` to keep everything in one schema (the
tests give each run its own).

``check_database`` looks at the database before anything opens it, so a wrong URL is
one clear line, not a new empty database somewhere or a connection pool's traceback.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from eventsourcing import persistence

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


TRANSCODER_TOPIC = "smsledger.adapters.transcoder:OrjsonTranscoder"
"""How events are encoded (orjson), on every store: the library reads it from the env."""


def memory_env() -> dict[str, str]:
    """The library's in-memory store, for unit tests of the use cases."""
    return {"PERSISTENCE_MODULE": "eventsourcing.popo", "TRANSCODER_TOPIC": TRANSCODER_TOPIC}


CONNECT_TIMEOUT_SECONDS = 3
"""How long ``check_database`` waits for PostgreSQL: a wrong host or port fails in
seconds, not after the connection pool's 30."""

_SQLITE_HEADER = b"SQLite format 3\x00"


class DatabaseURLError(ValueError):
    """The database URL cannot be used."""


class DatabaseUnavailableError(RuntimeError):
    """The configured database cannot be used as it is; the message is one line that
    says what is wrong (no directory, no database, refused, unknown host...)."""


@dataclass(frozen=True)
class Database:
    kind: Literal["sqlite", "postgres"]
    path: str = ""  # sqlite file, or ":memory:"
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    schema: str = "public"

    @classmethod
    def from_url(cls, url: str) -> Database:
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///") :]
            if not path:
                msg = "sqlite URL needs a path: sqlite:///./smsledger.db"
                raise DatabaseURLError(msg)
            return cls(kind="sqlite", path=path)
        if url in {"sqlite://:memory:", "sqlite:///:memory:"}:
            return cls(kind="sqlite", path=":memory:")
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            msg = f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://..."
            raise DatabaseURLError(msg)
        schema = parse_qs(parts.query).get("schema", ["public"])[0]
        if not _SCHEMA.match(schema):
            msg = f"invalid schema name {schema!r}"
            raise DatabaseURLError(msg)
        dbname = parts.path.lstrip("/")
        if not dbname:
            msg = "postgresql URL needs a database name: postgresql://USER@HOST/DB"
            raise DatabaseURLError(msg)
        return cls(
            kind="postgres",
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            dbname=dbname,
            schema=schema,
        )

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    def eventsourcing_env(self) -> dict[str, str]:
        """The library's environment. Table creation is off: migrations own the schema."""
        common = {
            "CREATE_TABLE": "n",
            "APPLICATION_RECORDER_TOPIC": "",
            "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
        }
        if self.kind == "sqlite":
            name = (
                self.path if self.path != ":memory:" else "file:smsledger?mode=memory&cache=shared"
            )
            return {
                **common,
                "PERSISTENCE_MODULE": "smsledger.adapters.recorders:SQLiteLedgerFactory",
                "SQLITE_DBNAME": name,
                "SQLITE_LOCK_TIMEOUT": "30",
                "APPLICATION_RECORDER_TOPIC": "smsledger.adapters.recorders:SQLiteLedgerRecorder",
            }
        return {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_POOL_SIZE": "8",
            "POSTGRES_MAX_OVERFLOW": "8",
            "POSTGRES_LOCK_TIMEOUT": "10",
            # A connection that died in the pool (the server restarted) is replaced when
            # it is handed out, and a request waits at most 5 s for one (503 after that).
            "POSTGRES_PRE_PING": "y",
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "APPLICATION_RECORDER_TOPIC": "smsledger.adapters.recorders:PostgresLedgerRecorder",
        }

    def conninfo(self) -> str:
        """A libpq connection string for psycopg."""
        parts = [f"host={self.host}", f"port={self.port}", f"dbname={self.dbname}"]
        if self.user:
            parts.append(f"user={self.user}")
        if self.password:
            parts.append(f"password={self.password}")
        return " ".join(parts)

    @property
    def where(self) -> str:
        """The database for a message: a path, or ``user@host:port/db`` (no password)."""
        if self.kind == "sqlite":
            return self.path
        user = f"{self.user}@" if self.user else ""
        schema = "" if self.schema == "public" else f"?schema={self.schema}"
        return f"{user}{self.host}:{self.port}/{self.dbname}{schema}"

    def sqlite_connect(self) -> sqlite3.Connection:
        """A plain sqlite3 connection in autocommit mode, WAL, foreign keys on. It
        never creates directories: a path into one that does not exist is a mistake
        (``check_database`` says so), not a place to make."""
        conn = sqlite3.connect(
            self.path if self.path != ":memory:" else "file:smsledger?mode=memory&cache=shared",
            uri=self.path == ":memory:",
            isolation_level=None,
            check_same_thread=False,
            timeout=30,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn


def check_database(db: Database, *, create: bool) -> None:
    """Raise ``DatabaseUnavailableError`` unless ``db`` can be used as it is.

    SQLite: the file's directory must exist; without ``create`` (read-only commands)
    the file itself must exist too, and it must be a SQLite database. Nothing is
    created here. PostgreSQL: one connection, with a short timeout, must succeed.
    """
    if db.kind == "sqlite":
        _check_sqlite(db.path, create=create)
        return
    try:
        with psycopg.connect(db.conninfo(), connect_timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except psycopg.Error as e:
        msg = f"cannot connect to PostgreSQL at {db.where}: {_reason(e)}"
        raise DatabaseUnavailableError(msg) from None


def _check_sqlite(path: str, *, create: bool) -> None:
    if path == ":memory:":
        return
    file = Path(path)
    if not file.parent.is_dir():
        msg = f"no directory {file.parent} for the SQLite database {path}"
        raise DatabaseUnavailableError(msg)
    if not file.exists():
        if not create:
            msg = f"no database at {path} (run smsledger migrate)"
            raise DatabaseUnavailableError(msg)
        return
    try:
        with file.open("rb") as f:
            header = f.read(len(_SQLITE_HEADER))
    except OSError as e:  # a directory, or no permission to read it
        msg = f"cannot read the SQLite database {path}: {e.strerror or e}"
        raise DatabaseUnavailableError(msg) from None
    if header and header != _SQLITE_HEADER:  # an empty file is a new database
        msg = f"{path} is not a SQLite database"
        raise DatabaseUnavailableError(msg)


def _reason(error: BaseException) -> str:
    """libpq's reason, in one line: 'connection to server at "h", port 1 failed:
    Connection refused' and its hint on the next line become 'Connection refused'."""
    lines = str(error).strip().splitlines()
    if not lines:
        return type(error).__name__
    return lines[0].rsplit(" failed: ", 1)[-1].replace("FATAL:  ", "").strip()


# What "the database is unavailable for now" looks like from each layer that talks to it.
# psycopg's ``OperationalError`` covers a refused or lost connection ("server closed the
# connection unexpectedly", "terminating connection due to administrator command") and
# the pool's timeouts (``PoolTimeout`` is one); SQLite's only when it is its lock, busy,
# file or disk errors ("no such table" is one too, and is a bug). The library wraps both
# in its own classes, so a wrapper is judged by its cause; one without a cause is the
# library's own pool running dry ("Timed out waiting for return of writer").
_PSYCOPG = (psycopg.OperationalError, psycopg.InterfaceError)
_LIBRARY = (
    persistence.OperationalError,
    persistence.InterfaceError,
    persistence.ConnectionPoolClosedError,
)
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "database is busy",
    # The file or its disk, not the data: retried, never recorded as a poison event.
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
)


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is the database being unreachable, restarting
    or locked, rather than anything about the request or the data: the API answers 503
    with ``Retry-After``, the runner retries the page instead of skipping an event."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg.errors.ProgramLimitExceeded):
            return False  # an OperationalError too, but about the data (a row too big)
        if isinstance(current, psycopg.errors.SerializationFailure) and "recovery" in str(current):
            # A hot standby cancelled a read that a replayed change conflicted with
            # ("canceling statement due to conflict with recovery"): try again.
            return True
        if isinstance(current, _PSYCOPG):
            return True
        if isinstance(current, sqlite3.OperationalError):
            return any(text in str(current).lower() for text in _SQLITE_UNAVAILABLE)
        cause = current.__cause__ or current.__context__
        if isinstance(current, _LIBRARY) and cause is None:
            return True
        current = cause
    return False
