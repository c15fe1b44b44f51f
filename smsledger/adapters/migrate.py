"""Apply the migrations to the configured database: idempotent, recorded, and safe
when two processes start at once (PostgreSQL: an advisory lock; SQLite: an immediate
write transaction).

The SQL ships inside the package (``smsledger.migrations``: the repository's
``migrations/``), so an installed ``smsledger`` finds it from any working directory.
Finding none is an error, never "up to date".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database

log = logging.getLogger(__name__)

_LOCK_KEY = 0x5_31ED_6E12  # any constant shared by every smsledger process


class MigrationsMissingError(RuntimeError):
    """The package holds no migration files: a broken install, never "up to date"."""


@dataclass(frozen=True)
class Migration:
    """One SQL file of ``smsledger.migrations``: its version (the file's stem) and SQL."""

    stem: str
    text: str


def migration_files(kind: str) -> list[Migration]:
    """The migrations for a database kind, in version order; an error if there are none."""
    folder = files("smsledger.migrations") / ("postgres" if kind == "postgres" else "sqlite")
    found = (
        sorted(
            (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
            key=lambda entry: entry.name,
        )
        if folder.is_dir()
        else []
    )
    if not found:
        msg = (
            f"no {kind} migrations found in the smsledger package ({folder}); "
            "the installation is incomplete: reinstall smsledger"
        )
        raise MigrationsMissingError(msg)
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text("utf-8")) for entry in found]


def migrate(db: Database) -> list[str]:
    """Apply the pending migrations; returns the versions applied now."""
    if db.is_postgres:
        return _migrate_postgres(db)
    return _migrate_sqlite(db)


def pending(db: Database) -> list[str]:
    """Versions not yet applied (all of them on an empty database)."""
    wanted = [p.stem for p in migration_files(db.kind)]
    applied = set(_applied(db))
    return [v for v in wanted if v not in applied]


def _applied(db: Database) -> list[str]:
    if db.is_postgres:
        with psycopg.connect(db.conninfo(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT to_regclass(%s)", (f"{db.schema}.schema_migrations",)
            ).fetchone()
            if not exists or exists[0] is None:
                return []
            rows = conn.execute(
                sql.SQL("SELECT version FROM {}.schema_migrations").format(
                    sql.Identifier(db.schema)
                )
            ).fetchall()
            return [r[0] for r in rows]
    lite = db.sqlite_connect()
    try:
        row = lite.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ).fetchone()
        if row is None:
            return []
        return [r[0] for r in lite.execute("SELECT version FROM schema_migrations")]
    finally:
        lite.close()


def _migrate_postgres(db: Database) -> list[str]:
    done: list[str] = []
    schema = sql.Identifier(db.schema)
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        # Serialise concurrent migrators; the second finds everything applied.
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
                    "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(schema)
            )
            applied = {
                r[0]
                for r in conn.execute(
                    sql.SQL("SELECT version FROM {}.schema_migrations").format(schema)
                )
            }
            for migration in migration_files("postgres"):
                if migration.stem in applied:
                    continue
                with conn.transaction():
                    conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema))
                    conn.execute(migration.text.encode())
                    conn.execute(
                        sql.SQL("INSERT INTO {}.schema_migrations (version) VALUES (%s)").format(
                            schema
                        ),
                        (migration.stem,),
                    )
                log.info("applied migration %s", migration.stem)
                done.append(migration.stem)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done


def _migrate_sqlite(db: Database) -> list[str]:
    done: list[str] = []
    conn = db.sqlite_connect()
    try:
        conn.execute("BEGIN IMMEDIATE")  # one writer at a time
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for migration in migration_files("sqlite"):
            if migration.stem in applied:
                continue
            for statement in _split(migration.text):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (migration.stem,))
            done.append(migration.stem)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    for version in done:
        log.info("applied migration %s", version)
    return done


def _split(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit midway)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        current += line
        if line.rstrip().endswith(";") and _complete(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


def _complete(statement: str) -> bool:
    import sqlite3

    return sqlite3.complete_statement(statement)
