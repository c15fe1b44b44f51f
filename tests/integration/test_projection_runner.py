"""The runner's guarantees, with a minimal projection, on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest

from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.projections.db import ViewDatabase
from smsledger.projections.runner import (
    _RUNNER_LOCK_CLASS,
    LoggedEvent,
    Projection,
    ProjectionRunner,
    _no_cycle_collection,
)


class Crash(BaseException):
    """The process dying mid-page: not an ``Exception``, so no handler takes it for a
    poison event (a real crash, SIGKILL, is in ``test_views_crash.py``)."""


class TopicCounts(Projection):
    """Counts events per topic; tests can see every application."""

    name = "topic_counts"

    def __init__(self, dialect: str, *, fail_after: int | None = None) -> None:
        self.ph = "?" if dialect == "sqlite" else "%s"
        self.fail_after = fail_after
        self.seen = 0

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        for e in events:
            self.seen += 1
            if self.fail_after is not None and self.seen > self.fail_after:
                raise Crash("crash mid-page")
            cur.execute(
                f"INSERT INTO t_counts (topic, n) VALUES ({self.ph}, 1) "
                "ON CONFLICT (topic) DO UPDATE SET n = t_counts.n + 1",
                (e.topic,),
            )

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM t_counts")


@pytest.fixture
def views(database: Database) -> Iterator[ViewDatabase]:
    v = open_views(database)
    with v.transaction() as cur:
        cur.execute("CREATE TABLE t_counts (topic TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    yield v
    v.close()


def counts(views: ViewDatabase) -> dict[str, int]:
    with views.reading() as cur:
        cur.execute("SELECT topic, n FROM t_counts")
        return {r[0]: r[1] for r in cur.fetchall()}


def make_events(ledger: Ledger, n: int) -> None:
    account = ledger.open_account("Acme").value
    for i in range(n):
        ledger.top_up(account.id, 1, f"r{i}")


def test_runner_applies_every_event_once_across_pages(ledger: Ledger, views: ViewDatabase) -> None:
    make_events(ledger, 24)
    runner = ProjectionRunner(ledger, views, [TopicCounts(views.dialect)], page_size=7)
    assert runner.run_once() == 25
    assert counts(views) == {"smsledger:Account.Opened": 1, "smsledger:Account.ToppedUp": 24}
    assert runner.positions()["topic_counts"] == runner.head()
    assert runner.progress()[0].lag == 0
    # Caught up: nothing more to do.
    assert runner.run_once() == 0


def test_on_postgresql_the_next_page_is_read_ahead_once_and_used(
    ledger: Ledger, views: ViewDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_events(ledger, 19)  # 20 events: pages of 3 (six full) and one of 2
    reads: list[tuple[int, str]] = []
    select = ledger.recorder.select_log  # type: ignore[attr-defined]

    def counted(start: int, limit: int) -> Any:
        reads.append((start, threading.current_thread().name))
        return select(start, limit)

    # The runner reads the log by the recorder's plain ``select_log``.
    monkeypatch.setattr(ledger.recorder, "select_log", counted)
    runner = ProjectionRunner(ledger, views, [TopicCounts(views.dialect)], page_size=3)
    assert runner.run_once() == 20
    assert counts(views) == {"smsledger:Account.Opened": 1, "smsledger:Account.ToppedUp": 19}
    # Every page read once (no read thrown away and read again), then the empty one.
    assert [start for start, _ in reads] == [0, 3, 6, 9, 12, 15, 18, 20]
    ahead = [start for start, thread in reads if thread.startswith("projection-read-ahead")]
    if views.dialect == "postgres":
        # Each page after a full one was read (and decoded) while that one was written.
        assert ahead == [3, 6, 9, 12, 15, 18]
    else:
        assert ahead == []


def test_crash_mid_page_rolls_back_view_and_position_together(
    ledger: Ledger, views: ViewDatabase
) -> None:
    make_events(ledger, 13)  # 14 events: pages of 5, 5 and 4
    crashing = ProjectionRunner(
        ledger, views, [TopicCounts(views.dialect, fail_after=13)], page_size=5
    )
    with pytest.raises(Crash):
        crashing.run_once()
    # Two whole pages committed (10 events), the third rolled back with its position.
    assert sum(counts(views).values()) == 10
    assert crashing.positions()["topic_counts"] == 10
    # A restarted runner carries on from there: nothing twice, nothing lost.
    restarted = ProjectionRunner(ledger, views, [TopicCounts(views.dialect)], page_size=5)
    restarted.run_once()
    assert counts(views) == {"smsledger:Account.Opened": 1, "smsledger:Account.ToppedUp": 13}


def test_rebuild_equals_incremental(ledger: Ledger, views: ViewDatabase) -> None:
    make_events(ledger, 5)
    runner = ProjectionRunner(ledger, views, [TopicCounts(views.dialect)], page_size=2)
    runner.run_once()
    incremental = counts(views)
    seen: list[tuple[int, int]] = []
    assert runner.rebuild("topic_counts", progress=lambda p, h: seen.append((p, h))) == 6
    assert counts(views) == incremental
    assert seen[-1][0] == seen[-1][1] == runner.head()


def test_rebuild_progress_ends_at_100_percent_when_another_runner_takes_pages(
    ledger: Ledger, views: ViewDatabase
) -> None:
    make_events(ledger, 11)  # 12 events: pages of 3
    runner = ProjectionRunner(ledger, views, [TopicCounts(views.dialect)], page_size=3)
    runner.run_once()
    # A `serve` beside the rebuild follows the log too: after the rebuild's first page
    # it takes the rest of the replay in its own turns.
    beside = ProjectionRunner(ledger, views, [TopicCounts(views.dialect)], page_size=3)
    seen: list[tuple[int, int]] = []

    def progress(position: int, head: int) -> None:
        seen.append((position, head))
        if len(seen) == 1:
            beside.run_once()

    runner.rebuild("topic_counts", progress=progress)
    # The bar's last step is the end of the log, though this call applied one page.
    assert seen[0] == (3, 12)
    assert seen[-1] == (12, 12)
    assert counts(views) == {"smsledger:Account.Opened": 1, "smsledger:Account.ToppedUp": 11}


def test_wait_returns_when_projections_reach_a_position(
    ledger: Ledger, views: ViewDatabase
) -> None:
    make_events(ledger, 1)
    runner = ProjectionRunner(ledger, views, [TopicCounts(views.dialect)])
    head = runner.head()
    assert runner.wait(head, timeout=0.05) is False
    runner.run_once()
    assert runner.wait(head, timeout=0.05) is True


def test_runner_without_projections_returns_at_once(ledger: Ledger, views: ViewDatabase) -> None:
    make_events(ledger, 2)
    assert ProjectionRunner(ledger, views, []).run_once() == 0


@pytest.mark.parametrize("database", ["postgres"], indirect=True)  # psycopg only
def test_runners_take_turns_within_a_schema_but_never_across_schemas(
    ledger: Ledger, views: ViewDatabase, database: Database
) -> None:
    make_events(ledger, 3)
    runner = ProjectionRunner(ledger, views, [TopicCounts(views.dialect)])
    lock = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"

    def run_in_thread() -> threading.Thread:
        thread = threading.Thread(target=runner.run_once, daemon=True)
        thread.start()
        return thread

    with psycopg.connect(database.conninfo()) as other:
        # Another schema's runner is mid-page: this one does not wait for it.
        other.execute(lock, (_RUNNER_LOCK_CLASS, "some_other_ledger"))
        thread = run_in_thread()
        thread.join(timeout=10)
        assert not thread.is_alive()
        other.rollback()
        assert runner.progress()[0].lag == 0
        # A runner of this same schema is mid-page: this one waits for its turn.
        make_events(ledger, 1)
        other.execute(lock, (_RUNNER_LOCK_CLASS, database.schema))
        thread = run_in_thread()
        thread.join(timeout=0.5)
        assert thread.is_alive()
        other.rollback()
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert runner.progress()[0].lag == 0


def backend(cur: psycopg.Cursor[Any]) -> int:
    """The server process of ``cur``'s connection."""
    cur.execute("SELECT pg_backend_pid()")
    row = cur.fetchone()
    assert row is not None
    return int(row[0])


class BesideCounts(TopicCounts):
    """``TopicCounts`` into its own table, which the runner may write beside the others;
    notes the server process of the cursor it is handed, page by page (PostgreSQL)."""

    name = "beside_counts"
    beside = True

    def __init__(self, dialect: str, *, fail_after: int | None = None) -> None:
        super().__init__(dialect, fail_after=fail_after)
        self.backends: list[int] = []

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        if isinstance(cur, psycopg.Cursor):
            self.backends.append(backend(cur))
        for e in events:
            self.seen += 1
            if self.fail_after is not None and self.seen > self.fail_after:
                raise Crash("crash mid-page")
            cur.execute(
                f"INSERT INTO t_beside (topic, n) VALUES ({self.ph}, 1) "
                "ON CONFLICT (topic) DO UPDATE SET n = t_beside.n + 1",
                (e.topic,),
            )

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM t_beside")


class Backends(TopicCounts):
    """``TopicCounts`` noting the server process of the cursor it is handed, page by
    page (PostgreSQL)."""

    def __init__(self, dialect: str, *, fail_after: int | None = None) -> None:
        super().__init__(dialect, fail_after=fail_after)
        self.backends: list[int] = []

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        if isinstance(cur, psycopg.Cursor):
            self.backends.append(backend(cur))
        super().apply(cur, events)


def beside_counts(views: ViewDatabase) -> dict[str, int]:
    with views.reading() as cur:
        cur.execute("SELECT topic, n FROM t_beside")
        return {r[0]: r[1] for r in cur.fetchall()}


@pytest.fixture
def beside_table(views: ViewDatabase) -> ViewDatabase:
    with views.transaction() as cur:
        cur.execute("CREATE TABLE t_beside (topic TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    return views


def test_a_beside_projection_is_written_on_a_connection_of_its_own_on_postgresql(
    ledger: Ledger, beside_table: ViewDatabase
) -> None:
    views = beside_table
    make_events(ledger, 19)  # 20 events: pages of 3
    main, beside = Backends(views.dialect), BesideCounts(views.dialect)
    runner = ProjectionRunner(ledger, views, [main, beside], page_size=3)
    assert runner.run_once() == 40
    expected = {"smsledger:Account.Opened": 1, "smsledger:Account.ToppedUp": 19}
    assert counts(views) == beside_counts(views) == expected
    assert runner.positions() == {"topic_counts": 20, "beside_counts": 20}
    if views.dialect == "postgres":
        # Each of the seven pages: never the page's own connection, another one beside.
        assert len(main.backends) == len(beside.backends) == 7
        assert all(m != b for m, b in zip(main.backends, beside.backends, strict=True))


@pytest.mark.parametrize("crashing", ["topic_counts", "beside_counts"])
def test_a_crash_on_either_connection_applies_every_event_once_after_restart(
    ledger: Ledger, beside_table: ViewDatabase, crashing: str
) -> None:
    views = beside_table
    make_events(ledger, 13)  # 14 events: pages of 5, 5 and 4
    fail = {"fail_after": 13}
    projections = [
        TopicCounts(views.dialect, **(fail if crashing == "topic_counts" else {})),
        BesideCounts(views.dialect, **(fail if crashing == "beside_counts" else {})),
    ]
    with pytest.raises(Crash):
        ProjectionRunner(ledger, views, projections, page_size=5).run_once()
    positions = ProjectionRunner(ledger, views, projections).positions()
    # The crashing projection's third page rolled back with its position. On
    # PostgreSQL the beside one commits first, so a crash of the page's own transaction
    # leaves it at the end; a crash beside fails the page, which then commits nothing.
    # On SQLite both are in the one transaction.
    assert positions[crashing] == 10
    other = ({"topic_counts", "beside_counts"} - {crashing}).pop()
    ahead = views.dialect == "postgres" and crashing == "topic_counts"
    assert positions[other] == (14 if ahead else 10)
    # A restarted runner carries each on from its own position: nothing twice.
    restarted = [TopicCounts(views.dialect), BesideCounts(views.dialect)]
    ProjectionRunner(ledger, views, restarted, page_size=5).run_once()
    expected = {"smsledger:Account.Opened": 1, "smsledger:Account.ToppedUp": 13}
    assert counts(views) == beside_counts(views) == expected


def test_no_cycle_collection_counts_the_threads_inside_it() -> None:
    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def reader() -> None:
        with _no_cycle_collection():
            inside.set()
            leave.wait(5)

    with _no_cycle_collection():
        thread = threading.Thread(target=reader)
        thread.start()
        inside.wait(5)
    # The page's thread left; the reader is still inside: still off.
    assert not gc.isenabled()
    leave.set()
    thread.join(5)
    assert gc.isenabled()
    gc.disable()
    try:  # off before: left off
        with _no_cycle_collection():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
