"""The library's recorders, plus one bulk read: many aggregates' events in one query.

Report ingest and the sweeper load hundreds of messages at a time; one round trip
instead of one per message is most of their speed. On SQLite, also the factory that
lets writers queue for the one write lock (``SQLiteLedgerFactory``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteFactory,
)
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eventsourcing.utils import Environment, EnvType


COPY_FROM_ROWS = 1000
"""From this many events a write goes by ``COPY``; fewer go by one ``INSERT``, which
needs two round trips fewer: measured on loopback, the two break even at about 1,000
rows, and ``COPY`` takes 20% less time at 5,000 and 40% less at 20,000."""


StateRow = tuple[UUID, int, bytes]
"""A message's current-state row: its id, the version it summarises, its encoded state."""

Current = tuple[tuple[int, bytes] | None, list[StoredEvent]]
"""What a bulk load of current state finds for one aggregate: its state row (version,
state) if it has one of the format asked for, and every event after that version."""


SQLITE_WRITE_CACHE_MAX_KIB = 65536
"""The most page cache (KiB) one SQLite write is given; see ``SQLiteLedgerRecorder``."""

SQLITE_DEFAULT_CACHE_KIB = 2000
"""SQLite's default page cache per connection (``PRAGMA cache_size = -2000``)."""


SQLITE_QUEUE_SECONDS = 60.0
"""How long a writer waits its turn at the SQLite pool before the request fails."""


class QueuedWriterPool(SQLiteConnectionPool):
    """The library's pool, with writers that wait longer and readers that never wait
    behind them.

    Writers: the library hands out ONE writer connection at a time, in request order
    (a fair semaphore, then the writer lock), which is the queue we want; but it gave
    up after a fixed 5 s (``pool_timeout``, not settable from the environment) with
    "Timed out waiting for return of writer". Under 60 concurrent single-recipient sends
    35 answered 500 that way (p50 9.4 s), and one whose events were committed was
    charged without a 202 (its snapshot, taken after the commit, timed out).

    Readers: in the library's pool a reader queues at the same semaphore, behind a
    writer waiting for the writer lock. The projection runner reads the log from this
    pool while it holds the views' SQLite write lock (``BEGIN IMMEDIATE``), and the
    writer holding the writer lock waits for that same file lock: a cycle, broken only
    by a timeout (30 s with the longer wait above; measured p50 30.6 s, 13 of 60 sends
    409). A reader of a WAL file neither blocks nor is blocked, so here it takes a
    connection straight away.

    (``BEGIN IMMEDIATE`` with a busy timeout in the library's writer would queue in
    SQLite instead, but by sleep-and-retry, in no order, and the pool's own 5 s would
    still end it first.) With both, and ``Ledger.turns``, the 60 sends are 60 x 202,
    p50 1.0 s, p99 2.1 s, with every worker of ``serve`` running.
    """

    def get_connection(
        self, timeout: float | None = None, *, is_writer: bool | None = None
    ) -> SQLiteConnection:
        if is_writer is not False or self._mutually_exclusive_read_write:
            return super().get_connection(timeout, is_writer=is_writer)
        if self.closed:
            return super().get_connection(timeout, is_writer=is_writer)  # raises
        conn = self._get_connection(timeout=self.pool_timeout if timeout is None else timeout)
        with self._no_readers:
            self._num_readers += 1
        conn.is_writer = False
        return conn


class SQLiteLedgerFactory(SQLiteFactory):
    """The library's SQLite store on a ``QueuedWriterPool``."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        library = self.datastore.pool  # not connected yet: nothing is lost replacing it
        self.datastore.pool = QueuedWriterPool(
            db_name=library.db_name,
            lock_timeout=library.lock_timeout,
            pool_size=library.pool_size,
            max_overflow=library.max_overflow,
            pool_timeout=SQLITE_QUEUE_SECONDS,
            max_age=library.max_age,
            pre_ping=library.pre_ping,
        )
        library.close()


SQLITE_MANY_FROM_ROWS = 100
"""From this many events a SQLite write inserts them with one ``executemany``."""


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """As the library's (one transaction), with the page cache made large enough
        for a big write while it lasts, then set back.

        SQLite's default cache is 2 MiB a connection. A 10,000-recipient send dirties
        ~19 MiB of pages (20,002 events, 10,000 state rows, their keys' indexes): past
        2 MiB SQLite spills dirty pages to the WAL mid-transaction and writes a page
        again each time it is touched after (the indexes take random keys), then
        reads back from the WAL what it spilled. Over ten sends into one store (timers
        around the insert, one run each) the insert took 230-380 ms a send with the
        cache against 410-620 without (``docs/performance.md``, "Batch send").
        ``cache_size`` changes no durability: the commit writes and syncs as before.
        It is set back after the commit, so a connection does not keep 30 MiB of
        pages for its next, small, use (the pool holds up to 15)."""
        kib = _write_cache_kib(stored_events, kwargs)
        if kib <= SQLITE_DEFAULT_CACHE_KIB:
            return super().insert_events(stored_events, **kwargs)
        with self.datastore.get_connection(commit=True) as conn:
            pragma = conn.cursor()
            pragma.execute("PRAGMA cache_size")
            row = pragma.fetchone()
            before = int(row[0]) if row is not None else -SQLITE_DEFAULT_CACHE_KIB
            pragma.execute(f"PRAGMA cache_size = -{kib}")
            try:
                with conn.transaction(commit=True) as c:
                    return self._insert_events(c, stored_events, **kwargs)
            finally:
                pragma.execute(f"PRAGMA cache_size = {before}")

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """As the library's, and the ``message_states`` rows given (``Ledger._record``)
        upserted in the same transaction.

        From ``SQLITE_MANY_FROM_ROWS`` events, one ``executemany`` rather than the
        library's ``execute`` per event (for its ``lastrowid``): a quarter of a
        1,000-report batch was those 1,001 calls. The ids are then known without
        asking each: the table's rowid is the notification id, with no
        ``AUTOINCREMENT``, so each new row takes the highest rowid plus one, and
        under the write lock this transaction holds no other row comes between; that
        the new rows are exactly the top ones is checked all the same. The insert is
        the transaction's first statement, as in the library: a read before it would
        begin a read snapshot that another process's commit (``serve --workers`` on
        one file) could make stale, and the write would then fail with
        ``SQLITE_BUSY_SNAPSHOT`` at once instead of waiting its turn for the lock."""
        if len(stored_events) < SQLITE_MANY_FROM_ROWS:
            ids = super()._insert_events(c, stored_events, **kwargs)
        else:
            c.executemany(
                self.insert_events_statement,
                [
                    (
                        e.originator_id.hex
                        if isinstance(e.originator_id, UUID)
                        else e.originator_id,
                        e.originator_version,
                        e.topic,
                        e.state,
                    )
                    for e in stored_events
                ],
            )
            c.execute("SELECT last_insert_rowid()")
            last = c.fetchone()[0]
            first = last - len(stored_events) + 1
            c.execute(f"SELECT count(*) FROM {self.events_table_name} WHERE rowid >= ?", (first,))
            if c.fetchone()[0] != len(stored_events):
                msg = f"inserted {len(stored_events)} events, not the rowids {first} to {last}"
                raise ProgrammingError(msg)
            ids = list(range(first, last + 1))
        states = [*kwargs.get("message_states", ()), *kwargs.get("new_message_states", ())]
        if states:
            c.executemany(
                "INSERT INTO message_states (message_id, version, format, state) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET "
                "version = excluded.version, format = excluded.format, state = excluded.state",
                [(i.hex, v, kwargs["state_format"], st) for i, v, st in states],
            )
        return ids

    def select_log(self, start: int, limit: int) -> list[tuple[int, Any, int, str, bytes]]:
        """Up to ``limit`` events after position ``start``, as plain tuples (position,
        originator id and version, topic, state), for the projection runner."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (start, limit),
            )
            convert = self.convert_originator_id
            return [(r[0], convert(r[1]), r[2], r[3], r[4]) for r in c.fetchall()]

    def select_current_many(
        self, originator_ids: Sequence[UUID], state_format: int
    ) -> dict[UUID, Current]:
        """Each given aggregate's state row (of ``state_format``) and its events after it."""
        out: dict[UUID, Current] = {}
        # The UUIDs given, by their text: no UUID built per row read.
        by_hex = {i.hex: i for i in originator_ids}
        ids = list(by_hex)
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                c.execute(
                    f"SELECT message_id, version, state FROM message_states "
                    f"WHERE format = ? AND message_id IN ({marks})",
                    [state_format, *chunk],
                )
                for row in c.fetchall():
                    out[by_hex[row["message_id"]]] = ((row["version"], row["state"]), [])
                c.execute(
                    f"SELECT e.originator_id, e.originator_version, e.topic, e.state "
                    f"FROM {self.events_table_name} e LEFT JOIN message_states s "
                    f"ON s.message_id = e.originator_id AND s.format = ? "
                    f"WHERE e.originator_id IN ({marks}) "
                    f"AND e.originator_version > coalesce(s.version, 0) "
                    f"ORDER BY e.originator_id, e.originator_version",
                    [state_format, *chunk],
                )
                for row in c.fetchall():
                    oid = by_hex[row["originator_id"]]
                    found = out.get(oid)
                    if found is None:
                        found = out[oid] = (None, [])
                    found[1].append(
                        StoredEvent(oid, row["originator_version"], row["topic"], row["state"])
                    )
        return out

    def select_events_many(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """Every event of each given aggregate, in version order."""
        out: dict[UUID, list[StoredEvent]] = defaultdict(list)
        ids = [i.hex for i in originator_ids]
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                c.execute(
                    f"SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} WHERE originator_id IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version",
                    chunk,
                )
                for row in c.fetchall():
                    oid = UUID(row["originator_id"])
                    out[oid].append(
                        StoredEvent(oid, row["originator_version"], row["topic"], row["state"])
                    )
        return out


def _write_cache_kib(stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> int:
    """Page cache (KiB) for one write: twice its rows' bytes (pages are not full, and
    the indexes' pages come with them), at most ``SQLITE_WRITE_CACHE_MAX_KIB``."""
    size = sum(len(e.state) + 120 for e in stored_events)
    for key in ("message_states", "new_message_states"):
        size += sum(len(s) + 60 for *_, s in kwargs.get(key, ()))
    return min(SQLITE_WRITE_CACHE_MAX_KIB, 2 * size // 1024)


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = (Identifier(self.datastore.schema), Identifier(self.events_table_name))
        self._select_many_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}.{} "
            "WHERE originator_id = ANY(%b) ORDER BY originator_id, originator_version"
        ).format(*table)
        self._insert_arrays_statement = SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(*table)
        self._max_id_statement = SQL("SELECT max(notification_id) FROM {}.{}").format(*table)
        self._copy_statement = SQL(
            "COPY {}.{} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(*table)
        states = Identifier(self.datastore.schema), Identifier("message_states")
        self._upsert_states_statement = SQL(
            "INSERT INTO {}.{} (message_id, version, format, state) "
            "SELECT i, v, %b, s FROM unnest(%b::uuid[], %b::bigint[], %b::bytea[]) AS t(i, v, s) "
            "ON CONFLICT (message_id) DO UPDATE SET version = EXCLUDED.version, "
            "format = EXCLUDED.format, state = EXCLUDED.state"
        ).format(*states)
        self._insert_states_statement = SQL(
            "INSERT INTO {}.{} (message_id, version, format, state) "
            "SELECT i, v, %b, s FROM unnest(%b::uuid[], %b::bigint[], %b::bytea[]) AS t(i, v, s)"
        ).format(*states)
        self._copy_states_statement = SQL(
            "COPY {}.{} (message_id, version, format, state) FROM STDIN (FORMAT BINARY)"
        ).format(*states)
        # Each id's row, and whether any event is newer than it (one probe of the
        # primary key each; none is, normally, as every save writes its row).
        # In the order of the ids given, which are not sent back: building a UUID
        # for each row was about a tenth of reading a 1,000-report batch's rows.
        # Each row by its primary key, whatever the statistics say: as a plain join,
        # the planner took a hash join over a seq scan of the whole table (then a
        # sort) while the table was young or its statistics stale, 19 ms against 6.5
        # for 1,000 ids among 8,000 rows. The LIMIT keeps the lateral subquery from
        # being pulled up into such a join (``message_id`` is the key: one row at most).
        self._select_states_statement = SQL(
            "SELECT s.version, s.state, EXISTS (SELECT 1 FROM {}.{} e "
            "WHERE e.originator_id = i.id AND e.originator_version > coalesce(s.version, 0)) "
            "FROM unnest(%b::uuid[]) WITH ORDINALITY AS i(id, n) LEFT JOIN LATERAL "
            "(SELECT version, state FROM {}.{} WHERE message_id = i.id AND format = %b "
            "LIMIT 1) s ON true ORDER BY i.n"
        ).format(*table, *states)
        self._select_after_statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%b::uuid[], %b::bigint[]) AS i(id, after) "
            "JOIN {}.{} e ON e.originator_id = i.id AND e.originator_version > i.after "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(*table)
        self._ids_after_statement = SQL(
            "SELECT notification_id FROM {}.{} WHERE notification_id > %b ORDER BY notification_id"
        ).format(*table)
        self._select_log_statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {}.{} WHERE notification_id > %b ORDER BY notification_id LIMIT %b"
        ).format(*table)

    def select_log(self, start: int, limit: int) -> list[tuple[int, UUID, int, str, bytes]]:
        """Up to ``limit`` events after position ``start``, as plain tuples (position,
        originator id and version, topic, state): what ``select_notifications`` reads,
        for the projection runner, in binary and without a ``Notification`` per row
        (4.5 -> 1.5 us an event)."""
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(self._select_log_statement, (start, limit), prepare=True)
            return curs.fetchall()

    def select_events_many(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """Every event of each given aggregate, in version order."""
        out: dict[UUID, list[StoredEvent]] = defaultdict(list)
        # Binary tuples: about 2.5x faster than the library's text dict rows.
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(self._select_many_statement, (list(originator_ids),))
            rows: list[tuple[Any, ...]] = curs.fetchall()
        for oid, version, topic, state in rows:
            out[oid].append(StoredEvent(oid, version, topic, state))
        return out

    def select_current_many(
        self, originator_ids: Sequence[UUID], state_format: int
    ) -> dict[UUID, Current]:
        """Each given aggregate's state row (of ``state_format``) and its events after
        it: one query for the rows, a second only for the ids with newer events (a
        message stored before ``message_states``, or a row of another format). Were
        an event written between the two, the message would load one version behind
        and its save conflict and retry, as for any concurrent change."""
        out: dict[UUID, Current] = {}
        behind: dict[UUID, int] = {}
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            ids = list(originator_ids)
            curs.execute(self._select_states_statement, (ids, state_format))
            for oid, (version, state, newer) in zip(ids, curs.fetchall(), strict=True):
                if state is not None:
                    out[oid] = ((version, state), [])
                if newer:
                    behind[oid] = version or 0
            if behind:
                curs.execute(self._select_after_statement, (list(behind), list(behind.values())))
                for oid, version, topic, state in curs.fetchall():
                    found = out.get(oid)
                    if found is None:
                        found = out[oid] = (None, [])
                    found[1].append(StoredEvent(oid, version, topic, state))
        return out

    def _write_states(self, curs: Any, kwargs: dict[str, Any]) -> None:
        """The messages' current-state rows (``Ledger._record``), in the events'
        transaction. A new message's row is inserted, by ``COPY`` from
        ``COPY_FROM_ROWS`` rows (a send of 10,000): none can exist, since its first
        event would conflict first. The others are upserted."""
        form = kwargs.get("state_format")
        states: Sequence[StateRow] = kwargs.get("message_states", ())
        if states:
            curs.execute(
                self._upsert_states_statement,
                (
                    form,
                    [i for i, _, _ in states],
                    [v for _, v, _ in states],
                    [s for *_, s in states],
                ),
            )
        fresh: Sequence[StateRow] = kwargs.get("new_message_states", ())
        if len(fresh) >= COPY_FROM_ROWS:
            with curs.copy(self._copy_states_statement) as copy:
                copy.set_types(["uuid", "int8", "int4", "bytea"])
                for i, v, s in fresh:
                    copy.write_row((i, v, form, s))
        elif fresh:
            curs.execute(
                self._insert_states_statement,
                (form, [i for i, _, _ in fresh], [v for _, v, _ in fresh], [s for *_, s in fresh]),
            )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """As the library's (one transaction: the table lock, notify, insert, the new
        ids), but NOT in pipeline mode, and the rows sent by a binary ``COPY``.

        No pipeline: a batch's insert carries megabytes, and psycopg's pipeline can
        deadlock on such a send (psycopg issue #685): the server waits in ClientRead
        for the rest of the message, the client in ``Pipeline.sync`` for a result, for
        ever, holding the event table's lock, so every write of the ledger stops. Seen
        here on psycopg 3.3.9 while growing a store to 1,000,000 messages.

        ``COPY`` (from ``COPY_FROM_ROWS`` events): a 10,000-recipient send writes 20,000
        rows; ``COPY`` takes them in about 60% of the time of an ``INSERT ... SELECT
        FROM unnest(...)`` of the same rows, ids included. It has no ``RETURNING``, so
        the ids are read back afterwards: under the EXCLUSIVE table lock no other
        transaction inserts, and ``COPY`` draws the ids from the sequence in row order,
        so the ids above the highest one before are exactly this transaction's rows, in
        the order given.
        """
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as library_curs,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            self._insert_events(library_curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._lock_table(library_curs)
            self._notify_channel(library_curs)
            if len(stored_events) < COPY_FROM_ROWS:
                # Rows as four parallel binary arrays: one round trip, ids returned.
                curs.execute(
                    self._insert_arrays_statement,
                    (
                        [e.originator_id for e in stored_events],
                        [e.originator_version for e in stored_events],
                        [e.topic for e in stored_events],
                        [e.state for e in stored_events],
                    ),
                )
                inserted = [r[0] for r in curs.fetchall()]
                # After the events: a conflict is theirs first, as without the rows.
                self._write_states(curs, kwargs)
                return inserted
            row = curs.execute(self._max_id_statement, prepare=True).fetchone()
            before: int = row[0] if row is not None and row[0] is not None else 0
            with curs.copy(self._copy_statement) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for e in stored_events:
                    copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
            curs.execute(self._ids_after_statement, (before,), binary=True)
            ids: list[int] = [r[0] for r in curs.fetchall()]
            if len(ids) != len(stored_events):
                msg = f"inserted {len(stored_events)} events, found {len(ids)} new ids"
                raise ProgrammingError(msg)
            self._write_states(curs, kwargs)
            return ids
