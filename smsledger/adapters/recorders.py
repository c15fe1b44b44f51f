"""The library's recorders, plus one bulk read: many aggregates' events in one query.

Report ingest and the sweeper load hundreds of messages at a time; one round trip
instead of one per message is most of their speed. On SQLite, also the factory that
lets writers queue for the one write lock (``SQLiteLedgerFactory``).
"""

from __future__ import annotations

import struct
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar
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
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from eventsourcing.utils import Environment, EnvType
    from psycopg import Connection, Cursor


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
        self, originator_ids: Sequence[UUID], state_format: int, *, probe: bool = True
    ) -> dict[UUID, Current]:
        """Each given aggregate's state row (of ``state_format``) and its events after it;
        ``probe=False`` trusts each row to be current, as PostgreSQL's does (only an
        id without a row is read from its events)."""
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
                if not probe:
                    chunk = [h for h in chunk if by_hex[h] not in out]
                    if not chunk:
                        continue
                    marks = ",".join("?" * len(chunk))
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


# Arrays for the state rows' statements, in PostgreSQL's binary array format, built
# here: psycopg's list dumper walks each list in Python, about 0.5 ms for a list of
# 1,000, four lists a 1,000-report batch. The format (``array_recv``): dimensions 1,
# no NULL flag, the element type; the length and lower bound 1; each element as its
# length (4 bytes) and its binary form. None of these lists may hold a NULL.
class _BinaryArray:
    """An array already in PostgreSQL's binary form (``data``); ``oid``: its array
    type. A holder, not a ``bytes`` subclass: making one of those copies the bytes,
    and a batch's state rows are ~630 KiB."""

    __slots__ = ("data",)
    oid: ClassVar[int]

    def __init__(self, data: bytes) -> None:
        self.data = data


class _UuidArray(_BinaryArray):
    oid = 2951  # uuid[]


class _Int8Array(_BinaryArray):
    oid = 1016  # int8[]


class _ByteaArray(_BinaryArray):
    oid = 1001  # bytea[]


class _UuidArrayDumper(Dumper):
    format = Format.BINARY
    oid = _UuidArray.oid

    def dump(self, obj: Any) -> bytes:
        data: bytes = obj.data
        return data


class _Int8ArrayDumper(_UuidArrayDumper):
    oid = _Int8Array.oid


class _ByteaArrayDumper(_UuidArrayDumper):
    oid = _ByteaArray.oid


_ARRAY_DUMPERS = (
    (_UuidArray, _UuidArrayDumper),
    (_Int8Array, _Int8ArrayDumper),
    (_ByteaArray, _ByteaArrayDumper),
)
_HEADER = struct.Struct("!iiIii")  # ndim, has-null flag, element oid, length, lower bound
_LEN16 = (16).to_bytes(4, "big")
_INT8 = struct.Struct("!iq")  # the length 8 and the value


def _with_arrays(curs: Cursor[Any]) -> None:
    """Let this cursor send ``_BinaryArray`` values (its own adapters: a cursor copies
    its connection's when made, and the pool's connections are the library's)."""
    for cls, dumper in _ARRAY_DUMPERS:
        curs.adapters.register_dumper(cls, dumper)


def _uuid_array(values: Sequence[UUID]) -> _UuidArray:
    if not values:
        return _UuidArray(_HEADER.pack(0, 0, 2950, 0, 0)[:12])
    head = _HEADER.pack(1, 0, 2950, len(values), 1)
    return _UuidArray(b"".join((head, _LEN16, _LEN16.join([u.bytes for u in values]))))


def _int8_array(values: Sequence[int]) -> _Int8Array:
    if not values:
        return _Int8Array(_HEADER.pack(0, 0, 20, 0, 0)[:12])
    pack = _INT8.pack
    return _Int8Array(
        b"".join((_HEADER.pack(1, 0, 20, len(values), 1), *[pack(8, v) for v in values]))
    )


def _bytea_array(values: Sequence[bytes]) -> _ByteaArray:
    if not values:
        return _ByteaArray(_HEADER.pack(0, 0, 17, 0, 0)[:12])
    parts = [_HEADER.pack(1, 0, 17, len(values), 1)]
    for v in values:
        parts.append(len(v).to_bytes(4, "big"))
        parts.append(v)
    return _ByteaArray(b"".join(parts))


class StateReads:
    """State-row reads in flight on one connection (``reading_states``): ``send``
    queues a read of some ids' rows, ``take`` waits for the oldest one's. A caller
    that takes each read before sending the next, and decodes after sending it,
    decodes one chunk while PostgreSQL reads the next. ``finish`` reads the events of
    every id whose row was missing or (when probing) behind them."""

    def __init__(self, conn: Connection[Any], statement: Any, after: Any, state_format: int):
        self._conn = conn
        self._statement = statement
        self._after = after
        self._format = state_format
        self._queued: list[tuple[list[UUID], Cursor[Any]]] = []
        self._behind: dict[UUID, int] = {}
        self._rows: dict[UUID, tuple[int, bytes]] = {}

    def send(self, ids: list[UUID]) -> None:
        if not ids:
            return
        curs = self._conn.cursor(row_factory=tuple_row, binary=True)
        _with_arrays(curs)
        curs.execute(self._statement, (_uuid_array(ids), self._format), prepare=True)
        # Ask for the result as soon as it is ready (as ``take`` would: psycopg does
        # the same there), so that it waits in our socket, not in the server's buffer.
        pgconn = self._conn.pgconn
        pgconn.send_flush_request()
        pgconn.flush()
        self._queued.append((ids, curs))

    def take(self) -> list[tuple[UUID, int, bytes]]:
        """The oldest read's current rows (id, version, state), in the order of its
        ids; empty if none is queued."""
        if not self._queued:
            return []
        ids, curs = self._queued.pop(0)
        current: list[tuple[UUID, int, bytes]] = []
        behind = self._behind
        for oid, (version, state, newer) in zip(ids, curs.fetchall(), strict=True):
            if newer:
                behind[oid] = version or 0
                if state is not None:
                    self._rows[oid] = (version, state)
            elif state is not None:  # (no row and no event: not an aggregate)
                current.append((oid, version, state))
        curs.close()
        return current

    def finish(self) -> dict[UUID, Current]:
        """Each id (of all reads so far, every one taken) whose row was missing or
        behind: its row, if any, and its events after it."""
        assert not self._queued, "a read was not taken"
        out: dict[UUID, Current] = {}
        behind = self._behind
        if not behind:
            return out
        for oid, row in self._rows.items():
            out[oid] = (row, [])
        with self._conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(self._after, (list(behind), list(behind.values())))
            for oid, version, topic, state in curs.fetchall():
                found = out.get(oid)
                if found is None:
                    found = out[oid] = (None, [])
                found[1].append(StoredEvent(oid, version, topic, state))
        return out


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
        # The upsert and, in the same round trip, the count and highest id of the
        # events after a given id (``_ids_after``): a data-modifying WITH runs once,
        # to completion, whether or not the query reads it.
        self._upsert_states_counting_statement = SQL(
            "WITH upserted AS ({}) SELECT count(*), max(notification_id) FROM {}.{} "
            "WHERE notification_id > %b"
        ).format(self._upsert_states_statement, *table)
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
        # The same without the probe: a row is trusted as current (``probe=False``
        # of ``select_current_many``); only an id with no row is looked up in the
        # events. A row behind its events then loads a message one version or more
        # behind, and the write of its next event conflicts with the event already
        # at that version (the events' unique key), so the batch is retried, probing.
        self._select_states_trusted_statement = SQL(
            "SELECT s.version, s.state, s.version IS NULL "
            "FROM unnest(%b::uuid[]) WITH ORDINALITY AS i(id, n) LEFT JOIN LATERAL "
            "(SELECT version, state FROM {}.{} WHERE message_id = i.id AND format = %b "
            "LIMIT 1) s ON true ORDER BY i.n"
        ).format(*states)
        self._select_after_statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%b::uuid[], %b::bigint[]) AS i(id, after) "
            "JOIN {}.{} e ON e.originator_id = i.id AND e.originator_version > i.after "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(*table)
        self._ids_after_statement = SQL(
            "SELECT notification_id FROM {}.{} WHERE notification_id > %b ORDER BY notification_id"
        ).format(*table)
        self._count_after_statement = SQL(
            "SELECT count(*), max(notification_id) FROM {}.{} WHERE notification_id > %b"
        ).format(*table)
        # The table lock (with its timeout), the notification, and for a ``COPY`` the
        # highest id before it: one round trip (simple query protocol, no parameters)
        # instead of four.
        notify = SQL("NOTIFY {}").format(Identifier(self.channel_name))
        self._lock_notify_statement = SQL("; ").join([*self.lock_table_statements, notify])
        self._lock_notify_max_statement = SQL("; ").join(
            [*self.lock_table_statements, notify, self._max_id_statement]
        )
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
        self, originator_ids: Sequence[UUID], state_format: int, *, probe: bool = True
    ) -> dict[UUID, Current]:
        """Each given aggregate's state row (of ``state_format``) and its events after
        it: one query for the rows, a second only for the ids with newer events (a
        message stored before ``message_states``, or a row of another format). Were
        an event written between the two, the message would load one version behind
        and its save conflict and retry, as for any concurrent change.

        ``probe=False`` trusts each row to be current: no look for newer events,
        only an id without a row is read from its events. For a caller whose write
        conflicts if a row was behind (report ingest: it writes the next version of
        every message it changes, and changes none it judged from a stale row
        wrongly, as a stale row's report keys are a subset of the current ones)."""
        with self.reading_states(state_format, probe=probe) as reads:
            reads.send(list(originator_ids))
            out: dict[UUID, Current] = {
                oid: ((version, state), []) for oid, version, state in reads.take()
            }
            out.update(reads.finish())
        return out

    @contextmanager
    def reading_states(self, state_format: int, *, probe: bool = True) -> Iterator[StateReads]:
        """State-row reads queued on one connection in pipeline mode, so that the
        caller works while PostgreSQL reads (``StateReads``). Only reads: a write of
        megabytes through a pipeline can deadlock (``insert_events``); the ids of a
        read are 20 bytes each."""
        statement = (
            self._select_states_statement if probe else self._select_states_trusted_statement
        )
        with self.datastore.get_connection() as conn, conn.pipeline():
            yield StateReads(conn, statement, self._select_after_statement, state_format)

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
                    _uuid_array([i for i, _, _ in states]),
                    _int8_array([v for _, v, _ in states]),
                    _bytea_array([s for *_, s in states]),
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
                (
                    form,
                    _uuid_array([i for i, _, _ in fresh]),
                    _int8_array([v for _, v, _ in fresh]),
                    _bytea_array([s for *_, s in fresh]),
                ),
            )

    def _lock_notify_max(self, curs: Cursor[Any]) -> int:
        """Lock the table, notify, and the highest id before this transaction's."""
        curs.execute(self._lock_notify_max_statement)
        while curs.nextset():  # to the last statement's result: the highest id
            pass
        row = curs.fetchone()
        return row[0] if row is not None and row[0] is not None else 0

    def _ids_after(self, curs: Cursor[Any], before: int, n: int, counted: Any = None) -> list[int]:
        """The ids of the ``n`` events just copied (see ``insert_events``): before+1 ..
        before+n if there are n of them and the highest is before+n (counted, not sent
        back: ``counted`` if the caller has it); otherwise, as read."""
        row = counted
        if row is None:
            row = curs.execute(self._count_after_statement, (before,), binary=True).fetchone()
        if row is not None and row[0] == n and row[1] == before + n:
            return list(range(before + 1, before + n + 1))
        curs.execute(self._ids_after_statement, (before,), binary=True)
        ids: list[int] = [r[0] for r in curs.fetchall()]
        if len(ids) != n:
            msg = f"inserted {n} events, found {len(ids)} new ids"
            raise ProgrammingError(msg)
        return ids

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
            _with_arrays(curs)
            if len(stored_events) < COPY_FROM_ROWS:
                curs.execute(self._lock_notify_statement)
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
            before = self._lock_notify_max(curs)
            with curs.copy(self._copy_statement) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for e in stored_events:
                    copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
            n = len(stored_events)
            states: Sequence[StateRow] = kwargs.get("message_states", ())
            if not states or kwargs.get("new_message_states"):
                ids = self._ids_after(curs, before, n)
                self._write_states(curs, kwargs)
                return ids
            # Report ingest: the upsert and the ids' count in one round trip.
            counted = curs.execute(
                self._upsert_states_counting_statement,
                (
                    kwargs.get("state_format"),
                    _uuid_array([i for i, _, _ in states]),
                    _int8_array([v for _, v, _ in states]),
                    _bytea_array([s for *_, s in states]),
                    before,
                ),
                binary=True,
            ).fetchone()
            return self._ids_after(curs, before, n, counted)
