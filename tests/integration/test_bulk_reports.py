"""Report rows built from plain data (``bulk_reports``) are the aggregate path's, byte for byte.

Two stores hold the same messages (every event and state row of the first copied into
the second). The same reports, at the same clock, go through ``Message.record_report``
and the mapper on the first (``_record_reports_by_aggregates``) and through the plain
rows on the second (``record_delivery_reports``). The stored events (in notification
order: id, originator, version, topic, state bytes), the messages' state rows and the
answers must be equal, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from smsledger.adapters.migrate import migrate
from smsledger.adapters.recorders import COPY_FROM_ROWS, SQLITE_MANY_FROM_ROWS
from smsledger.adapters.storage import Database
from smsledger.application import bulk_reports
from smsledger.application.ledger import MESSAGE_STATE_FORMAT, Ledger
from smsledger.domain.reports import parse_report
from tests.support import FakeClock, drop_postgres, new_postgres_database

SHORT = "hi"
LONG = "Your table is ready! " * 12  # three GSM-7 parts: a multi-part price

CODES = [111, 112, 113, 114, 201, 202, 410, 500, 501, 503, 511, 512, 599, 777, -3]
"""Info, delivered, expired, rejected (refunded), failures (refunded before hand-off or
never), 599 and codes outside the table (read as 599)."""


@pytest.fixture
def twin(database: Database, tmp_path: Path) -> Iterator[Database]:
    """A second empty store of the same kind as ``database``."""
    if database.kind == "sqlite":
        db = Database(kind="sqlite", path=str(tmp_path / "twin.db"))
        migrate(db)
        yield db
        return
    db = new_postgres_database()
    migrate(db)
    try:
        yield db
    finally:
        drop_postgres(db)


def state_rows(db: Database, ids: Sequence[object]) -> dict[object, tuple[int, int, bytes]]:
    """Each message's ``message_states`` row: version, format, state bytes."""
    if db.kind == "sqlite":
        with sqlite3.connect(db.path) as conn:
            lite = conn.execute("SELECT message_id, version, format, state FROM message_states")
            found: dict[object, tuple[int, int, bytes]] = {
                UUID(i): (v, f, bytes(s)) for i, v, f, s in lite
            }
    else:
        with psycopg.connect(db.conninfo()) as conn:
            rows = conn.execute(
                sql.SQL("SELECT message_id, version, format, state FROM {}.message_states").format(
                    sql.Identifier(db.schema)
                )
            ).fetchall()
            found = {i: (v, f, bytes(s)) for i, v, f, s in rows}
    return {i: found[i] for i in ids if i in found}


def events_after(ledger: Ledger, after: int) -> list[tuple[Any, ...]]:
    """The events after notification ``after``, in order: each one's distance from
    ``after``, originator, version, topic and state bytes."""
    return [
        (n.id - after, n.originator_id, n.originator_version, n.topic, bytes(n.state))
        for n in ledger.recorder.select_notifications(after + 1, 100_000)
    ]


def copy_new(src: Ledger, src_db: Database, dst: Ledger, after: int) -> None:
    """Every event of ``src`` after notification ``after`` into ``dst`` with its
    messages' state rows, in the same order."""
    new = src.recorder.select_notifications(after + 1, 100_000)
    ids = list(dict.fromkeys(n.originator_id for n in new))
    rows = state_rows(src_db, ids)
    dst.recorder.insert_events(
        [StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in new],
        message_states=[(i, v, s) for i, (v, _, s) in rows.items()],
        new_message_states=[],
        state_format=MESSAGE_STATE_FORMAT,
    )


def seed(ledger: Ledger, clock: FakeClock, plan: list[tuple[str, str]], model: str) -> list[UUID]:
    """One account's messages, each brought to where ``plan`` says: ``funded`` (no
    gateway yet), ``sending`` (110, no answer), ``handed`` (111), ``failed`` (511)."""
    account = ledger.open_account("Acme", payment_model=model).value
    if model == "balance":
        ledger.top_up(account.id, 10**6, "t")
    ids = []
    for body in (SHORT, LONG):
        numbers = [f"+46701{i:06d}" for i, (b, _) in enumerate(plan) if b == body]
        if numbers:
            receipt = ledger.send_batch(account.id, sender="Acme", recipients=numbers, body=body)
            ids += [UUID(line["id"]) for line in receipt.lines]
    stages = [stage for body in (SHORT, LONG) for b, stage in plan if b == body]
    now = clock.now
    ledger.start_sending([m for m, s in zip(ids, stages, strict=True) if s != "funded"], now)
    ledger.record_hand_offs(
        {m: f"gw-{i}" for i, (m, s) in enumerate(zip(ids, stages, strict=True)) if s == "handed"},
        {m: "refused" for m, s in zip(ids, stages, strict=True) if s == "failed"},
        now,
    )
    return ids


plans = st.lists(
    st.tuples(
        st.sampled_from([SHORT, LONG]), st.sampled_from(["funded", "sending", "handed", "failed"])
    ),
    min_size=1,
    max_size=5,
)


@st.composite
def batches(draw: st.DrawFn, n: int) -> list[list[dict[str, Any]]]:
    """One or two batches of reports on messages 0..n-1 (and unknown ids, malformed
    ones): a few carrier times only, so repeats (duplicates) and late info codes
    (superseded) come often."""
    out = []
    for _ in range(draw(st.integers(1, 2))):
        batch = []
        for _ in range(draw(st.integers(1, 8))):
            kind = draw(st.sampled_from(["report"] * 8 + ["unknown", "invalid"]))
            at = (
                datetime(2026, 11, 2, 9, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 3)))
            ).isoformat()
            code = draw(st.sampled_from(CODES))
            raw = draw(
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries({"stat": st.just(code), "ref": st.text(max_size=5)}),
                    st.lists(st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans())),
                )
            )
            target: object = draw(st.integers(0, n - 1)) if kind == "report" else None
            if kind == "unknown":
                target = uuid4()
            report: dict[str, Any] = {"message_id": target, "status_code": code, "at": at}
            if kind == "invalid":
                report["at"] = "yesterday"
            if raw is not None:
                report["raw"] = raw
            batch.append(report)
        out.append(batch)
    return out


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_plain_rows_are_the_aggregate_paths_byte_for_byte(
    database: Database, twin: Database, write_path: str, data: st.DataObject
) -> None:
    clock = FakeClock()
    by_aggregates = Ledger(database.eventsourcing_env(), clock=clock)
    plain = Ledger(twin.eventsourcing_env(), clock=clock)
    try:
        assert plain._plain_reports_ok()
        # The same messages in both stores (each example its own account and
        # messages, so an earlier example that failed midway does not matter).
        model = data.draw(st.sampled_from(["balance", "post_invoice"]))
        a0 = by_aggregates.recorder.max_notification_id() or 0
        ids = seed(by_aggregates, clock, data.draw(plans), model)
        b0 = plain.recorder.max_notification_id() or 0
        copy_new(by_aggregates, database, plain, a0)
        assert events_after(plain, b0) == events_after(by_aggregates, a0)
        a0 = by_aggregates.recorder.max_notification_id() or 0
        b0 = plain.recorder.max_notification_id() or 0
        for batch in data.draw(batches(len(ids))):
            clock.advance(seconds=data.draw(st.integers(1, 100_000)))
            reports = [
                {**r, "message_id": str(ids[r["message_id"]])}
                if isinstance(r["message_id"], int)
                else {**r, "message_id": str(r["message_id"])}
                for r in batch
            ]
            parsed = [parse_report(r) for r in reports]
            wanted = list(dict.fromkeys(p.message_id for p in parsed if p is not None))
            expected = by_aggregates._record_reports_by_aggregates(reports, parsed, wanted)
            got = plain.record_delivery_reports(reports)
            # The same answers, the same events in the same order, the same rows.
            assert got.value == expected.value
            assert (got.position is None) == (expected.position is None)
            if got.position is not None:  # the last event's own id, however written
                assert got.position == plain.recorder.max_notification_id()
            assert events_after(plain, b0) == events_after(by_aggregates, a0)
            assert state_rows(twin, ids) == state_rows(database, ids)
    finally:
        by_aggregates.close()
        plain.close()


def test_a_raw_payload_of_a_json_subclass_takes_the_aggregate_path(ledger: Ledger) -> None:
    """An ``int`` subclass in ``raw`` is JSON to the parser but not to the transcoder:
    the batch goes the aggregate path, which treats it as it always did."""

    class Code(int):
        pass

    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 10_000, "t")
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=["+46701234567"], body="x")
    mid = receipt.lines[0]["id"]
    with pytest.raises(bulk_reports.NotPlainError):
        bulk_reports.build(
            [{}],
            [
                parse_report(
                    {
                        "message_id": mid,
                        "status_code": 201,
                        "at": "2026-11-02T09:01:00+00:00",
                        "raw": [Code(1)],
                    }
                )
            ],
            ledger._load_plain([UUID(mid)]),
            ledger.now(),
        )
    # The transcoder refuses it too: the same error as before the plain path.
    with pytest.raises(TypeError):
        ledger.record_delivery_reports(
            [
                {
                    "message_id": mid,
                    "status_code": 201,
                    "at": "2026-11-02T09:01:00+00:00",
                    "raw": [Code(1)],
                }
            ]
        )


def test_a_large_insert_returns_each_events_own_notification_id(ledger: Ledger) -> None:
    """Above ``SQLITE_MANY_FROM_ROWS`` (SQLite: one ``executemany``, ids derived) and
    ``COPY_FROM_ROWS`` (PostgreSQL: ``COPY``, ids read back), the ids returned are the
    ones each event was stored at, in the order given."""
    ledger.open_account("Acme")  # something before, so the ids do not start at 1
    for n in (SQLITE_MANY_FROM_ROWS, COPY_FROM_ROWS + 1):
        events = [StoredEvent(uuid4(), 1, "t:Probe", f"{i}".encode()) for i in range(n)]
        ids = ledger.recorder.insert_events(events)
        assert ids is not None
        stored = {
            (x.originator_id, bytes(x.state)): x.id
            for x in ledger.recorder.select_notifications(ids[0], n)
        }
        assert [stored[e.originator_id, e.state] for e in events] == list(ids)
        assert list(ids) == list(range(ids[0], ids[0] + n))
