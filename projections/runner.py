"""The projection runner: follows the event log in pages and keeps read models current.

How it works
------------
It reads the log (the recorder's plain ``select_log`` when it has one, else the
library's ``select_notifications``) in pages of up to ``page_size`` events after the
lowest position among its projections, decodes each event once (``LogDecoder``, the
mapper's result without its per-event lookups), and gives each projection the events
after its own position. A projection's view writes of a page and its new tracking
position commit in ONE transaction, so a crash before the commit leaves it at the old
position and a restart re-reads the same page: no event is applied twice, none is lost.
Every projection's is the page's own transaction, except (PostgreSQL catch-up) the
projections marked ``beside``: those are written on a second connection at the same
time, in a second transaction with their own positions, committed just before the
page's (``_apply_page``). A projection that ignores a page's events still has its
position moved to the page's end.

Why it never skips an event that an in-flight transaction may still commit
---------------------------------------------------------------------------
Positions are notification ids. On PostgreSQL the library's recorder takes
``LOCK TABLE ledger_events IN EXCLUSIVE MODE`` before it draws ids from the sequence
and holds it until commit, so writers draw ids and commit one after another: once id
N is visible, every smaller id is either visible or rolled back for good (a permanent
gap). On SQLite there is one writer at a time and the rowid is assigned inside it, so
the same holds. Any code that appends events some other way must take the same lock.

A poison event stops one projection's use of it, never the others
-----------------------------------------------------------------
If a page fails (an event the transcoder cannot read, or a projection's ``apply``
raising), the page's transaction rolls back and the page is applied again, carefully:
each event is decoded on its own, each projection's events are applied under a
savepoint, and when that fails, one event at a time, each under its own savepoint. An
event that still fails is recorded in ``projection_failures`` (projection, position,
topic, originator, account, error) in the same transaction as the tracking position,
skipped for that projection alone, and logged; every other projection, and the failing
one's other events, advance as usual. The fast path pays nothing for this: the careful
pass only runs after a failure. A failure of the database itself (the connection lost,
"database is locked": ``ViewDatabase.is_transient``) is never recorded as a poison
event: the page rolls back and is retried as before. ``rebuild(name)`` deletes the
projection's failures with its rows, so after the fix it heals.

Use
---
``ProjectionRunner(ledger, views, [projection, ...])``; ``run_once()`` catches up and
returns how many events it applied; ``run_forever(stop)`` keeps following;
``wait(position, timeout)`` blocks until every projection has reached ``position`` (the
API's read-your-writes); ``rebuild(name)`` clears a projection and replays it from zero;
``failures()`` lists the events skipped, ``health()`` each projection's position, lag and
failures.
A projection implements ``Projection`` (below); ``topics`` limits which events it is
given (empty: all), and ``apply`` writes its rows with the cursor it is handed.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from smsledger.projections.decoding import LogDecoder

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from eventsourcing.persistence import Notification

    from smsledger.projections.db import ViewDatabase
    from smsledger.projections.decoding import LogRow
    from smsledger.projections.events import EventLog

log = logging.getLogger(__name__)

PAGE_SIZE = 20_000
"""Events per page. Each page costs a fixed ~25 round trips (lock, positions, read, a
few statements per view, tracking, commit), and a message whose events all fall in one
page is inserted in its final state instead of inserted and then updated (an UPDATE of
view_messages touches its nine indexes; at pages of 5,000 a quarter of the bench's
messages were). 20,000 rather than 5,000 made catch-up 1.11x faster, 5,000 rather than
1,000 1.5x (docs/performance.md). A decoded page is ~17 MiB (two with the read-ahead);
a poison event in it costs about 30 savepoints to isolate. PostgreSQL's; see
``SQLITE_PAGE_SIZE``."""
SERVE_PAGE_SIZE = 5000
"""At most this many events a page when the runner shares its process with the API
(``smsledger serve``): a page, the one read ahead, their decoded events and view rows
are the process's working set, which the allocator keeps. Measured with
``bench.serve_rss`` (300,000 messages, only the page size changed): 224 MiB at 5,000,
353 at 20,000. ``smsledger project`` alone keeps ``PAGE_SIZE``."""
SQLITE_PAGE_SIZE = 5000
"""Events per page on SQLite. A page's transaction holds the database's one write lock
(``BEGIN IMMEDIATE``) while it is written, so every write of the API waits for it: a page
four times larger would hold the lock four times longer after a big send. (On
PostgreSQL the runner's lock is its own and writers of the log never wait for it.)"""
# Advisory lock that serialises the runners of one schema on PostgreSQL: (this class,
# the schema's hash). Locks are per database, so a fixed key made every ledger in the
# database (other schemas: parallel test runs, a benchmark beside a running service)
# take turns page by page: a catch-up fell from ~40,000 to ~1,000 events/s.
_RUNNER_LOCK_CLASS = 0x531ED
_ERROR_CHARS = 500
"""How much of an error's text a failure keeps: enough to say why, never a whole page."""


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A decoded domain event with its position in the log."""

    position: int
    topic: str
    event: Any


class Projection(ABC):
    """A read model built from the log. One subclass per view; SQL in its own dialect."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]] = ()
    """Topics this projection reads; empty means every event."""
    beside: ClassVar[bool] = False
    """Whether the runner may write this projection's page on a connection of its own,
    in its own transaction, beside the others (PostgreSQL catch-up): true only for a
    projection that reads no table another projection writes."""

    @abstractmethod
    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        """Write the view rows for these events, in log order, with ``cur``."""

    @abstractmethod
    def clear(self, cur: Any) -> None:
        """Delete every row of this view, for a rebuild."""

    def bind(self, ledger: EventLog) -> None:  # noqa: B027 - optional hook, empty on purpose
        """Called by the runner before any page, for a projection that must read an
        event from outside its page in the event store. Most need nothing."""


@dataclass(frozen=True)
class Progress:
    name: str
    position: int
    lag: int


@dataclass(frozen=True, slots=True)
class Failure:
    """An event a projection could not apply, skipped for that projection alone."""

    projection: str
    position: int
    topic: str
    originator_id: str
    account_id: str | None
    error: str
    first_seen: str


@dataclass(frozen=True)
class Health:
    """A projection's position, lag, and the events it skipped (oldest first)."""

    name: str
    position: int
    lag: int
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.failed == 0


_FAILURE_COLUMNS = tuple(Failure.__dataclass_fields__)


class _Undecodable:
    """Stands in a careful page for an event the transcoder could not read."""

    def __init__(self, error: Exception) -> None:
        self.error = error


@dataclass(frozen=True, slots=True)
class _Page:
    """A page read from the log: where it ends, whether it is full, the events the
    projections read, decoded, and (the careful pass only) their notifications."""

    end: int
    full: bool
    decoded: list[LoggedEvent]
    chosen: list[Notification] = field(default_factory=list)


class _ReadAhead:
    """One ``run_once``'s reader thread and the page it is reading (from which start)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="projection-read-ahead")
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="projection-write-beside")
        self.pending: tuple[int, Future[_Page | None]] | None = None


class ProjectionRunner:
    def __init__(
        self,
        ledger: EventLog,
        views: ViewDatabase,
        projections: Sequence[Projection],
        *,
        page_size: int | None = None,
    ) -> None:
        self.ledger = ledger
        self.views = views
        self.projections = list(projections)
        if page_size is None:
            page_size = SQLITE_PAGE_SIZE if views.dialect == "sqlite" else PAGE_SIZE
        self.page_size = page_size
        self._ph = "?" if views.dialect == "sqlite" else "%s"
        # The recorder's plain read of the log and the decoder beside the mapper
        # (projections/decoding.py); the library's read and mapper otherwise, and
        # always for the careful pass.
        self._select_log: Callable[[int, int], Sequence[LogRow]] | None = getattr(
            ledger.recorder, "select_log", None
        )
        self._decoder = LogDecoder(ledger.mapper)
        wanted = self._wanted_topics()
        self._wanted = None if wanted is None else frozenset(wanted)
        self._topics = {p.name: frozenset(p.topics) if p.topics else None for p in projections}
        self._readers: dict[str, tuple[int, ...]] = {}  # topic -> the projections reading it
        for projection in self.projections:
            projection.bind(ledger)
        names = [p.name for p in self.projections]
        if len(set(names)) != len(names):
            msg = f"projection names must be unique: {names}"
            raise ValueError(msg)

    # --- positions ------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        """Each projection's tracked position (0 before its first event)."""
        with self.views.reading() as cur:
            return self._positions(cur)

    def head(self) -> int:
        """The last position in the log."""
        return int(self.ledger.recorder.max_notification_id() or 0)

    def progress(self) -> list[Progress]:
        head = self.head()
        return [Progress(n, pos, max(head - pos, 0)) for n, pos in self.positions().items()]

    def wait(self, position: int, timeout: float = 5.0, *, interval: float = 0.01) -> bool:
        """Block until every projection has reached ``position``; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if min(self.positions().values(), default=position) >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    def catch_up(self, position: int | None = None, timeout: float = 5.0) -> None:
        """Make the views reach ``position`` (default: the head of the log): wait a
        moment for a running runner, then apply the missing pages in this thread (safe
        beside another runner: they take turns page by page)."""
        if position is None:
            position = self.head()
        if not self.wait(position, min(timeout, 0.2)):
            self.run_once()

    # --- processing -----------------------------------------------------------------

    def run_once(self, *, max_pages: int | None = None) -> int:
        """Apply pages until caught up (or ``max_pages``); returns events applied."""
        if not self.projections:
            return 0  # nothing tracks a position, so there is nothing to catch up
        applied, pages = 0, 0
        # On PostgreSQL the next page is read and decoded in a thread while this one's
        # rows are written: the server works on the writes while Python decodes.
        ahead = _ReadAhead() if self.views.dialect == "postgres" else None
        try:
            while max_pages is None or pages < max_pages:
                with _no_cycle_collection():
                    n = self._process_page(ahead)
                if n < 0:
                    break
                applied += n
                pages += 1
        finally:
            if ahead is not None:
                ahead.pool.shutdown(wait=True)
                ahead.writer.shutdown(wait=True)
        return applied

    def run_forever(self, stop: threading.Event, *, interval: float = 0.05) -> None:
        """Keep following the log until ``stop`` is set."""
        while not stop.is_set():
            try:
                if self.run_once(max_pages=50) == 0:
                    stop.wait(interval)
            except Exception:
                log.exception("projection page failed; retrying")
                stop.wait(1.0)

    def _process_page(self, ahead: _ReadAhead | None = None) -> int:
        """One page in one transaction. Returns events applied, or -1 when caught up."""
        try:
            return self._apply_page(careful=False, ahead=ahead)
        except Exception as e:
            if self.views.is_transient(e):
                raise  # the database, not the event: retry the page as it is
            log.warning(
                "projection page failed (%s: %s); applying it event by event", type(e).__name__, e
            )
        # The failed transaction rolled back: the same page again, every event on its own.
        return self._apply_page(careful=True)

    def _apply_page(self, *, careful: bool, ahead: _ReadAhead | None = None) -> int:
        with self.views.transaction() as cur:
            # Two runners on one database take turns; each reads positions afresh
            # inside its own transaction, so a page is never applied twice.
            if self.views.dialect == "postgres":
                cur.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                    (_RUNNER_LOCK_CLASS,),
                )
            positions = self._positions(cur)
            start = min(positions.values(), default=0)
            page = None if careful or ahead is None else self._take_ahead(ahead, start)
            if page is None:
                page = self._read_carefully(start) if careful else self._read_page(start)
                if page is None:
                    return -1
            end, decoded = page.end, page.decoded
            if ahead is not None and page.full:
                ahead.pending = (end, ahead.pool.submit(self._read_ahead, end))
            work = [
                (projection, [e for e in wanted if e.position > pos] if pos > start else wanted)
                for projection, wanted in zip(self.projections, self._route(decoded), strict=True)
                if (pos := positions[projection.name]) < end
            ]
            if careful:
                applied = 0
                for projection, events in work:
                    if events:
                        applied += self._apply_carefully(cur, projection, events, page.chosen)
                self._track(cur, [p.name for p, _ in work], end)
                return applied
            beside = [w for w in work if w[0].beside]
            if ahead is None or not beside:
                return self._apply_work(cur, work, end)
            # The projections that may (``Projection.beside``) are written on a second
            # connection, in a transaction of their own with their own tracking, while
            # this one writes the others: the server works on both at once. It commits
            # before this transaction does, so before the runners' lock is released:
            # another runner never reads their old positions while their rows are in
            # flight. A failure there fails this page too (the careful pass redoes it
            # in one transaction); if it committed and this one fails, its projections
            # are ahead and skip the page when it is read again (positions are each
            # projection's own).
            side = ahead.writer.submit(self._apply_beside, beside, end)
            try:
                applied = self._apply_work(cur, [w for w in work if not w[0].beside], end)
            finally:
                wait([side])
            return applied + side.result()

    def _apply_work(
        self, cur: Any, work: list[tuple[Projection, list[LoggedEvent]]], end: int
    ) -> int:
        applied = 0
        for projection, events in work:
            if events:
                projection.apply(cur, events)
                applied += len(events)
        self._track(cur, [p.name for p, _ in work], end)
        return applied

    def _apply_beside(self, work: list[tuple[Projection, list[LoggedEvent]]], end: int) -> int:
        """``work`` in a transaction of its own (in the writer thread)."""
        with self.views.transaction() as cur:
            return self._apply_work(cur, work, end)

    def _route(self, decoded: list[LoggedEvent]) -> list[list[LoggedEvent]]:
        """Each projection's events of the page, in log order: one pass over the page
        (each event appended to the lists of the projections that read its topic), not
        one pass per projection."""
        lists: list[list[LoggedEvent]] = [[] for _ in self.projections]
        readers = self._readers
        routes: dict[str, list[list[LoggedEvent]]] = {}
        for e in decoded:
            to = routes.get(e.topic)
            if to is None:
                if e.topic not in readers:
                    readers[e.topic] = tuple(
                        i
                        for i, p in enumerate(self.projections)
                        if (t := self._topics[p.name]) is None or e.topic in t
                    )
                to = routes[e.topic] = [lists[i] for i in readers[e.topic]]
            for events in to:
                events.append(e)
        return lists

    def _read(self, start: int) -> Sequence[Notification]:
        return self.ledger.recorder.select_notifications(
            start=start, limit=self.page_size, inclusive_of_start=False
        )

    def _read_page(self, start: int) -> _Page | None:
        """The page after ``start``, read and decoded; ``None`` if there is none."""
        wanted = self._wanted
        if self._select_log is None:
            notifications = self._read(start)
            if not notifications:
                return None
            decoded = [
                self._decode(n) for n in notifications if wanted is None or n.topic in wanted
            ]
            return _Page(notifications[-1].id, len(notifications) == self.page_size, decoded)
        decode = self._decoder.decode
        with _no_cycle_collection():
            rows = self._select_log(start, self.page_size)
            if not rows:
                return None
            decoded = [
                LoggedEvent(r[0], r[3], decode(r)) for r in rows if wanted is None or r[3] in wanted
            ]
        return _Page(rows[-1][0], len(rows) == self.page_size, decoded)

    def _read_carefully(self, start: int) -> _Page | None:
        """The page after ``start`` by the library's read and mapper, each event decoded
        on its own: one that cannot be is marked, not raised."""
        notifications = self._read(start)
        if not notifications:
            return None
        wanted = self._wanted
        chosen = [n for n in notifications if wanted is None or n.topic in wanted]
        decoded = [self._decode_or_mark(n) for n in chosen]
        return _Page(notifications[-1].id, len(notifications) == self.page_size, decoded, chosen)

    def _read_ahead(self, start: int) -> _Page | None:
        """The page after ``start``, read and decoded (in the read-ahead thread); ``None``
        if there is none yet or it cannot be decoded (the page's own transaction then
        reads it again and meets the error where it is handled)."""
        try:
            return self._read_page(start)
        except Exception:
            return None

    def _take_ahead(self, ahead: _ReadAhead, start: int) -> _Page | None:
        """The page read ahead, if it starts where this page must (another runner may
        have moved the positions meanwhile, or the page before it failed).

        Reading the log early is as safe as reading it late: ids become visible in
        order (the module docstring), so an early read only sees fewer events, never a
        gap."""
        pending, ahead.pending = ahead.pending, None
        if pending is None or pending[0] != start:
            return None
        try:
            return pending[1].result()
        except Exception as e:  # the read failed in the thread: read it again here
            log.debug("read-ahead of the log failed (%s); reading the page again", e)
            return None

    def _decode_or_mark(self, notification: Notification) -> LoggedEvent:
        try:
            return self._decode(notification)
        except Exception as e:
            if self.views.is_transient(e):
                raise
            return LoggedEvent(notification.id, notification.topic, _Undecodable(e))

    def _apply_carefully(
        self,
        cur: Any,
        projection: Projection,
        events: list[LoggedEvent],
        notifications: Sequence[Notification],
    ) -> int:
        """Apply ``events`` under savepoints; record and skip each one that fails.

        Runs of readable events are applied whole, then halved around a failure: one
        poison event in a page of 20,000 costs about 30 savepoints, not 20,000 one-event
        applies."""
        by_position = {n.id: n for n in notifications}
        applied, run = 0, list[LoggedEvent]()
        for e in [*events, None]:
            if e is not None and not isinstance(e.event, _Undecodable):
                run.append(e)
                continue
            applied += self._bisect(cur, projection, run, by_position)
            run = []
            if e is not None:
                assert isinstance(e.event, _Undecodable)
                self._record_failure(
                    cur, projection.name, e, by_position[e.position], e.event.error
                )
        return applied

    def _bisect(
        self,
        cur: Any,
        projection: Projection,
        events: list[LoggedEvent],
        by_position: dict[int, Notification],
    ) -> int:
        if not events:
            return 0
        error = self._try(cur, projection, events)
        if error is None:
            return len(events)
        if len(events) == 1:
            self._record_failure(
                cur, projection.name, events[0], by_position[events[0].position], error
            )
            return 0
        half = len(events) // 2
        return self._bisect(cur, projection, events[:half], by_position) + self._bisect(
            cur, projection, events[half:], by_position
        )

    def _try(self, cur: Any, projection: Projection, events: list[LoggedEvent]) -> Exception | None:
        """Apply under a savepoint: ``None`` if it worked, else the error, rolled back."""
        cur.execute("SAVEPOINT projection_event")
        try:
            projection.apply(cur, events)
        except Exception as e:
            if self.views.is_transient(e):
                raise
            cur.execute("ROLLBACK TO SAVEPOINT projection_event")
            cur.execute("RELEASE SAVEPOINT projection_event")
            return e
        cur.execute("RELEASE SAVEPOINT projection_event")
        return None

    def _record_failure(
        self,
        cur: Any,
        name: str,
        logged: LoggedEvent,
        notification: Notification,
        error: Exception,
    ) -> None:
        text = _error_text(error)
        originator = str(notification.originator_id)
        account = _account_of(logged)
        ph = self._ph
        # ON CONFLICT: the first sighting is kept (a retried page finds it recorded).
        cur.execute(
            "INSERT INTO projection_failures "
            "(projection, position, topic, originator_id, account_id, error) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (projection, position) DO NOTHING",
            (name, logged.position, _printable(logged.topic), originator, account, text),
        )
        log.error(
            "projection %s skipped the event at position %d (%s, originator %s): %s",
            name,
            logged.position,
            logged.topic,
            originator,
            text,
            extra={
                "projection": name,
                "position": logged.position,
                "topic": logged.topic,
                "originator_id": originator,
                "account_id": account,
            },
        )

    def _positions(self, cur: Any) -> dict[str, int]:
        cur.execute("SELECT name, position FROM projection_tracking")
        found = {row[0]: int(row[1]) for row in cur.fetchall()}
        return {p.name: found.get(p.name, 0) for p in self.projections}

    def _wanted_topics(self) -> set[str] | None:
        if any(not p.topics for p in self.projections):
            return None
        return {t for p in self.projections for t in p.topics}

    def _decode(self, notification: Notification) -> LoggedEvent:
        event = self.ledger.mapper.to_domain_event(notification)
        return LoggedEvent(notification.id, notification.topic, event)

    def _track(self, cur: Any, names: Sequence[str], position: int) -> None:
        """Move these projections to ``position``: one statement (one round trip) for
        the whole page, not one per projection."""
        if not names:
            return
        ph = self._ph
        rows = ", ".join([f"({ph}, {ph})"] * len(names))
        cur.execute(
            f"INSERT INTO projection_tracking (name, position) VALUES {rows} "
            f"ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            [v for name in names for v in (name, position)],
        )

    # --- failures -------------------------------------------------------------------

    def failures(self, name: str | None = None, *, limit: int = 100) -> list[Failure]:
        """The events skipped (by every runner on this database, or by one projection),
        oldest first, at most ``limit``."""
        ph = self._ph
        where, args = ("WHERE projection = " + ph, [name]) if name is not None else ("", [])
        columns = ", ".join(_FAILURE_COLUMNS)
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {columns} FROM projection_failures {where} "
                f"ORDER BY position, projection LIMIT {int(limit)}",
                args,
            )
            rows = [dict(zip(_FAILURE_COLUMNS, r, strict=True)) for r in cur.fetchall()]
        return [
            Failure(
                **{**row, "position": int(row["position"]), "first_seen": _iso(row["first_seen"])}
            )
            for row in rows
        ]

    def health(self, *, limit: int = 20) -> list[Health]:
        """Each projection's position and lag, and the events it skipped; also any
        other runner's projection on this database with failures (the dispatcher's)."""
        head = self.head()
        with self.views.reading() as cur:
            cur.execute("SELECT name, position FROM projection_tracking")
            tracked = {r[0]: int(r[1]) for r in cur.fetchall()}
            cur.execute("SELECT projection, count(*) FROM projection_failures GROUP BY projection")
            failed = Counter({r[0]: int(r[1]) for r in cur.fetchall()})
        names = [p.name for p in self.projections]
        names += sorted(n for n in failed if n not in names)
        out = []
        for name in names:
            position = tracked.get(name, 0)
            shown = self.failures(name, limit=limit) if failed[name] and limit else []
            out.append(Health(name, position, max(head - position, 0), failed[name], shown))
        return out

    # --- rebuild --------------------------------------------------------------------

    def rebuild(self, name: str, *, progress: Callable[[int, int], None] | None = None) -> int:
        """Clear one projection and replay the whole log into it; returns events applied
        by this call.

        ``progress(position, head)`` follows it page by page, and its last call is
        always at the end (``position == head``): another runner on the database (a
        ``serve`` beside it) may take pages of the replay in turn, so this call can find
        the projection caught up before its own last page, and the bar stopped short
        (at 73 % in one report) though the rebuild was complete."""
        matching = [p for p in self.projections if p.name == name]
        if not matching:
            msg = f"no projection named {name!r}; have {[p.name for p in self.projections]}"
            raise KeyError(msg)
        projection = matching[0]
        with self.views.transaction() as cur:
            projection.clear(cur)
            cur.execute(f"DELETE FROM projection_tracking WHERE name = {self._ph}", (name,))
            # Replayed from zero, so what failed is tried again: fixed, it heals.
            cur.execute(f"DELETE FROM projection_failures WHERE projection = {self._ph}", (name,))
        solo = ProjectionRunner(self.ledger, self.views, [projection], page_size=self.page_size)
        head, total = self.head(), 0
        while True:
            n = solo._process_page()
            if n < 0:
                break
            total += n
            if progress is not None:
                progress(solo.positions()[name], head)
        if progress is not None:
            done = solo.positions()[name]
            progress(done, max(done, head))
        return total


_quiet_lock = threading.Lock()
_quiet = [0, False]
"""How many threads are inside ``_no_cycle_collection``, and whether the collector
was on when the first of them came in."""


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """No cyclic garbage collection while a page is read, decoded and written.

    A page of 20,000 events allocates ~90,000 objects that live on (the events), and
    ~100,000 more as the rows read and the view rows written, so the collector ran a
    young collection every ~700 of them and, as pages piled up, full ones over the whole
    heap: a page decoded in 0.21-0.35 s of CPU with it, 0.12 s without, and a catch-up
    of the bench's 61,045 events took ~0.5 s of CPU with the collector on outside the
    decode, ~0.36 s with it off for the whole page (docs/performance.md). None of this
    makes cycles (the events and rows are freed by reference counting once their page
    is written). The reader thread and the page's own thread both hold it, so it counts
    them: the collector is off while either is inside, and switched back on when the
    last leaves, unless it was off already. It is process-wide: cycles another thread
    makes meanwhile wait for the end of the page to be collected."""
    with _quiet_lock:
        if _quiet[0] == 0:
            _quiet[1] = gc.isenabled()
            gc.disable()
        _quiet[0] += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet[0] -= 1
            if _quiet[0] == 0 and _quiet[1]:
                gc.enable()


def _printable(text: str) -> str:
    """Text any database stores: a NUL (PostgreSQL refuses it) and the other control
    characters written out, as ``repr`` would."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _error_text(error: Exception) -> str:
    text = _printable(f"{type(error).__name__}: {error}")
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def _account_of(logged: LoggedEvent) -> str | None:
    """The account an event concerns, when it says: its ``account_id``, or the
    originator of an Account event."""
    if isinstance(logged.event, _Undecodable):
        return None
    account = getattr(logged.event, "account_id", None)
    if account is None and logged.topic.startswith("smsledger:Account."):
        account = getattr(logged.event, "originator_id", None)
    return None if account is None else str(account)


def _iso(value: Any) -> str:
    """A stored time as RFC 3339 UTC text to the millisecond, as SQLite already keeps it
    (``strftime('%Y-%m-%dT%H:%M:%fZ')``); PostgreSQL gives a datetime."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return str(value)
