"""A poison event stops no one: the runner skips it for the projection that cannot apply
it, records why with the tracking position, and a rebuild after the fix heals it. On
SQLite and PostgreSQL, with events written straight into the store."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import uuid4

import orjson
import psycopg
import pytest

from smsledger.application.ledger import Ledger
from smsledger.projections.db import ViewDatabase
from smsledger.projections.queries import build_runner
from smsledger.projections.runner import PAGE_SIZE, LoggedEvent, Projection, ProjectionRunner
from tests.support import write_raw_event

TOPPED_UP = "smsledger:Account.ToppedUp"


class References(Projection):
    """One row per top-up reference; refuses (like a view write that fails) any top-up
    whose reference is in ``refuse``. Counts its ``apply`` calls."""

    name: ClassVar[str] = "references"
    topics: ClassVar[tuple[str, ...]] = (TOPPED_UP,)

    def __init__(self, dialect: str, refuse: frozenset[str] = frozenset()) -> None:
        self.ph = "?" if dialect == "sqlite" else "%s"
        self.refuse = refuse
        self.calls = 0

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        self.calls += 1
        for e in events:
            if e.event.reference in self.refuse:  # quoted as it is, NUL and all
                raise ValueError(f"cannot store reference {e.event.reference}")
            cur.execute(f"INSERT INTO t_refs (reference) VALUES ({self.ph})", (e.event.reference,))

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM t_refs")


class BesideReferences(References):
    """``References``, written on a connection of its own beside the page's (PostgreSQL)."""

    beside: ClassVar[bool] = True


class Everything(Projection):
    """Counts every event, of every topic: it reads what no one else does."""

    name: ClassVar[str] = "everything"

    def __init__(self, dialect: str) -> None:
        self.ph = "?" if dialect == "sqlite" else "%s"

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        for e in events:
            cur.execute(f"INSERT INTO t_all (position) VALUES ({self.ph})", (e.position,))

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM t_all")


class Unavailable(Projection):
    """A projection whose database goes away mid-page."""

    name: ClassVar[str] = "unavailable"

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        if isinstance(cur, sqlite3.Cursor):
            raise sqlite3.OperationalError("database is locked")
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    def clear(self, cur: Any) -> None:
        pass


@pytest.fixture
def views(views: ViewDatabase) -> ViewDatabase:
    with views.transaction() as cur:
        cur.execute("CREATE TABLE t_refs (reference TEXT PRIMARY KEY)")
        cur.execute("CREATE TABLE t_all (position BIGINT PRIMARY KEY)")
    return views


def rows(views: ViewDatabase, table: str) -> list[Any]:
    with views.reading() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY 1")
        return [r[0] for r in cur.fetchall()]


# Either on the page's own connection or beside it: the failure fails the page, which
# is applied again carefully, in one transaction.
@pytest.mark.parametrize("kind", [References, BesideReferences])
def test_an_event_a_projection_cannot_apply_is_skipped_and_everything_else_advances(
    ledger: Ledger, views: ViewDatabase, kind: type[References]
) -> None:
    account = ledger.open_account("Acme").value
    for i in range(40):
        ledger.top_up(account.id, 1, f"r{i:02d}")
    references = kind(views.dialect, refuse=frozenset({"r17"}))
    runner = ProjectionRunner(ledger, views, [references, Everything(views.dialect)])

    # The page fails on r17; the runner applies it again, carefully, and commits.
    assert runner.run_once() == 41 + 39
    head = runner.head()
    assert runner.positions() == {"references": head, "everything": head}
    assert rows(views, "t_refs") == [f"r{i:02d}" for i in range(40) if i != 17]
    assert len(rows(views, "t_all")) == 41
    # Halving around the failure, not one apply per event: the page, then the careful
    # page (whole, then halves down to the one event).
    assert references.calls <= 2 + 2 * 6

    # What was skipped, where, and why; the account is known from the event.
    [failure] = runner.failures()
    assert failure.projection == "references"
    assert failure.topic == TOPPED_UP
    assert failure.originator_id == str(account.id)
    assert failure.account_id == str(account.id)
    assert failure.error == "ValueError: cannot store reference r17"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", failure.first_seen)
    health = {h.name: h for h in runner.health()}
    assert not health["references"].healthy
    assert health["references"].failed == 1
    assert health["everything"].healthy

    # Later events still reach the projection that skipped one.
    ledger.top_up(account.id, 1, "later")
    runner.run_once()
    assert "later" in rows(views, "t_refs")

    # Fixed, and rebuilt: the skipped event is applied and the failure is gone.
    fixed = ProjectionRunner(ledger, views, [kind(views.dialect), Everything(views.dialect)])
    fixed.rebuild("references")
    assert "r17" in rows(views, "t_refs")
    assert fixed.failures() == []
    assert all(h.healthy for h in fixed.health())


# Pages of 2: the poison event is in the page read ahead (PostgreSQL), whose decoding
# fails in the reader thread; the page's own transaction meets it and isolates it.
@pytest.mark.parametrize("page_size", [PAGE_SIZE, 2])
def test_an_event_the_transcoder_cannot_read_is_skipped_by_the_projections_of_its_topic(
    ledger: Ledger, views: ViewDatabase, page_size: int
) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 1, "before")
    poison = write_raw_event(ledger, account.id, TOPPED_UP, b"\xff not json")
    # That account cannot load now; another one still writes.
    other = ledger.open_account("Other").value
    ledger.top_up(other.id, 1, "after")
    runner = ProjectionRunner(
        ledger, views, [References(views.dialect), Everything(views.dialect)], page_size=page_size
    )

    runner.run_once()

    head = runner.head()
    assert runner.positions() == {"references": head, "everything": head}
    assert rows(views, "t_refs") == ["after", "before"]
    assert poison not in rows(views, "t_all")
    failures = {(f.projection, f.position) for f in runner.failures()}
    assert failures == {("references", poison), ("everything", poison)}
    assert all(f.error.startswith("MapperDeserialisationError") for f in runner.failures())
    assert all(f.account_id is None for f in runner.failures())  # nothing to read it from


def test_a_lost_database_is_retried_never_recorded_as_a_poison_event(
    ledger: Ledger, views: ViewDatabase
) -> None:
    ledger.open_account("Acme")
    runner = ProjectionRunner(ledger, views, [Everything(views.dialect), Unavailable()])

    with pytest.raises((sqlite3.OperationalError, psycopg.OperationalError)):
        runner.run_once()

    # Nothing committed, nothing skipped: the page is tried again as it is.
    assert runner.positions() == {"everything": 0, "unavailable": 0}
    assert rows(views, "t_all") == []
    assert runner.failures() == []


def test_a_page_that_applies_cleanly_is_applied_once_without_savepoints(
    ledger: Ledger, views: ViewDatabase
) -> None:
    account = ledger.open_account("Acme").value
    for i in range(9):
        ledger.top_up(account.id, 1, f"r{i}")
    references = References(views.dialect)
    runner = ProjectionRunner(ledger, views, [references], page_size=5)

    runner.run_once()

    assert references.calls == 2  # one call per page: the careful pass never ran
    assert len(rows(views, "t_refs")) == 9


def test_error_text_is_stored_even_when_it_quotes_a_nul(
    ledger: Ledger, views: ViewDatabase
) -> None:
    # PostgreSQL refuses NUL in text: an error quoting the event's data must still be
    # recorded, or the failure itself would stop the runner.
    account = ledger.open_account("Acme").value
    when = {"_type_": "datetime_iso", "_data_": "2026-11-02T09:00:00+00:00"}
    state = orjson.dumps({"timestamp": when, "amount": 1, "reference": "Sec\u0000Test"})
    poison = write_raw_event(ledger, account.id, TOPPED_UP, state)
    runner = ProjectionRunner(
        ledger, views, [References(views.dialect, refuse=frozenset({"Sec\u0000Test"}))]
    )

    runner.run_once()

    [failure] = runner.failures()
    assert failure.position == poison
    assert failure.error == "ValueError: cannot store reference Sec\\x00Test"
    assert runner.positions()["references"] == runner.head()


def test_a_nul_in_a_stored_message_stops_no_read_model_on_either_database(
    ledger: Ledger, views: ViewDatabase
) -> None:
    # Issue 11's first finding, past the edge's checks: a NUL byte in a stored sender.
    # PostgreSQL cannot hold it in a text column, in the middle of COPY-sized pages.
    account = ledger.open_account("Acme", payment_model="post_invoice").value
    recipients = [f"+4673123{i:04d}" for i in range(10)]
    ledger.send_batch(account.id, sender="Acme", recipients=recipients, body="before")
    [accepted] = [
        n
        for n in ledger.recorder.select_notifications(start=0, limit=100)
        if n.topic == "smsledger:Message.Accepted"
    ][:1]
    state = orjson.loads(accepted.state)
    state["sender"] = "Sec\u0000Test"
    poison = write_raw_event(ledger, uuid4(), accepted.topic, orjson.dumps(state))
    ledger.send_batch(account.id, sender="Acme", recipients=recipients, body="after")
    runner = build_runner(ledger, views)

    runner.run_once()

    head = runner.head()
    assert set(runner.positions().values()) == {head}
    with views.reading() as cur:
        cur.execute("SELECT count(*) FROM view_messages WHERE sender = 'Acme'")
        assert cur.fetchone()[0] == 20
    failures = {(f.projection, f.position) for f in runner.failures()}
    if views.dialect == "postgres":
        assert failures == {("message_status", poison)}
    else:
        assert failures == set()  # SQLite stores the NUL: nothing to skip
