"""Which errors mean "the database is unavailable for now" (503 + Retry-After, the page
retried) and which are about the data or a bug (a poison event, a 500)."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg.errors
import pytest
from eventsourcing import persistence
from psycopg_pool import PoolTimeout

from smsledger.adapters.storage import unavailable


def wrapped(outer: type[Exception], inner: BaseException) -> Exception:
    """What the library raises: its own class, caused by the driver's."""
    try:
        raise outer(str(inner)) from inner
    except outer as e:
        return e


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.OperationalError("the connection is lost"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.InterfaceError("the connection is closed"),
        PoolTimeout("couldn't get a connection after 5.00 sec"),
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("unable to open database file"),
        sqlite3.OperationalError("disk I/O error"),
        wrapped(persistence.OperationalError, psycopg.OperationalError("connection refused")),
        wrapped(persistence.OperationalError, sqlite3.OperationalError("database is locked")),
        persistence.ConnectionUnavailableError("Timed out waiting for return of writer"),
        wrapped(RuntimeError, psycopg.OperationalError("the connection is lost")),
    ],
    ids=repr,
)
def test_a_lost_refused_or_locked_database_is_unavailable(error: Exception) -> None:
    assert unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
        psycopg.errors.NumericValueOutOfRange("bigint out of range"),
        psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"),
        psycopg.errors.UniqueViolation("duplicate key value"),
        sqlite3.OperationalError("no such table: view_messages"),
        wrapped(persistence.OperationalError, sqlite3.OperationalError("no such column: x")),
        wrapped(persistence.DataError, psycopg.DataError("invalid input")),
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        ValueError("a bug"),
    ],
    ids=repr,
)
def test_an_error_about_the_data_or_a_bug_is_not_unavailable(error: Exception) -> None:
    assert not unavailable(error)
