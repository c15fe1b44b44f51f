"""The ``message_states`` rows against the events they summarise, on both databases.

A row is derived: written in the transaction of its message's events, it must read
back as exactly the message that replaying those events gives, at the same version.
A message with no row, a row of another format, or a row behind its events is still
read correctly (from the events)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import RecordConflictError
from psycopg import sql

from smsledger.adapters.recorders import COPY_FROM_ROWS
from smsledger.adapters.storage import Database
from smsledger.application.ledger import MESSAGE_STATE_FORMAT, Ledger
from smsledger.domain.message import Message
from tests.integration.test_delivery_reports import SE, handed_off, report
from tests.support import FakeClock


def replayed(ledger: Ledger, mid: UUID) -> Message:
    """The message from its events alone (messages are never snapshotted)."""
    message: Any = None
    event: Any
    for event in ledger.repository.event_store.get(mid):
        message = event.mutate(message)
    assert isinstance(message, Message)
    return message


def assert_rows_match_events(ledger: Ledger, ids: list[UUID]) -> None:
    rows = ledger.recorder.select_current_many(ids, MESSAGE_STATE_FORMAT)  # type: ignore[attr-defined]
    assert set(rows) == set(ids)
    loaded = ledger.get_messages(ids)
    for mid in ids:
        row, after = rows[mid]
        assert row is not None, f"no state row for {mid}"
        assert after == [], "the row is behind its events"
        expected = replayed(ledger, mid)
        assert row[0] == expected.version
        assert vars(loaded[mid]) == vars(expected)


def test_rows_equal_the_replayed_events_through_a_message_life(
    ledger: Ledger, clock: FakeClock
) -> None:
    account_id, ids = handed_off(ledger, 6)
    assert_rows_match_events(ledger, ids)
    clock.advance(minutes=5)
    a, b, c, d, e, f = ids
    ledger.record_delivery_reports(
        [
            report(a, 201),
            report(a, 201),  # duplicate
            report(b, 503),
            report(b, 201, "2026-11-02T09:06:00+00:00"),
            report(c, 410),  # refunded
            report(d, 501),
            report(d, 201, "2026-11-02T09:07:00+00:00"),  # superseded
            report(e, 777),  # 599 Unknown
        ]
    )
    assert_rows_match_events(ledger, ids)
    assert ledger.get_messages([c])[c].refunded
    # Unreported, then through the sweeper: it gives up after validity plus grace.
    clock.advance(days=4)
    gave_up = ledger.sweep_messages(ids, clock.now, timedelta(hours=1)).value[1]
    assert f in gave_up
    assert_rows_match_events(ledger, ids)
    # Single saves too: a new message, canceled.
    receipt = ledger.send_batch(
        account_id,
        sender="Acme",
        recipients=[SE[10]],
        body="later",
        send_at=clock.now.replace(year=clock.now.year + 1),
    )
    later = UUID(receipt.lines[0]["id"])
    ledger.cancel(later)
    assert_rows_match_events(ledger, [*ids, later])


def _key(db: Database, mid: UUID) -> object:
    """A message id as the store's ``message_states`` column holds it."""
    return mid.hex if db.kind == "sqlite" else mid


def _rewrite(db: Database, statement: str, *args: Any) -> None:
    if db.kind == "sqlite":
        import sqlite3

        with sqlite3.connect(db.path) as conn:
            conn.execute(statement.replace("%s", "?"), args)
        return
    with psycopg.connect(db.conninfo()) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(db.schema)))
        conn.execute(statement, args)


def test_a_missing_stale_or_old_format_row_is_read_from_the_events(
    database: Database, ledger: Ledger, clock: FakeClock
) -> None:
    _, (a, b, c) = handed_off(ledger, 3)
    clock.advance(minutes=5)
    # Keep a's row as it was before the report: behind its events afterwards.
    rows = ledger.recorder.select_current_many([a], MESSAGE_STATE_FORMAT)  # type: ignore[attr-defined]
    (old_version, old_state), _ = rows[a]
    ledger.record_delivery_reports([report(a, 201), report(b, 201), report(c, 201)])
    _rewrite(
        database,
        "UPDATE message_states SET version = %s, state = %s WHERE message_id = %s",
        old_version,
        old_state,
        _key(database, a),
    )
    _rewrite(database, "DELETE FROM message_states WHERE message_id = %s", _key(database, b))
    _rewrite(
        database,
        "UPDATE message_states SET format = %s, state = %s WHERE message_id = %s",
        MESSAGE_STATE_FORMAT + 1,
        b"not a state",
        _key(database, c),
    )
    fresh = Ledger(database.eventsourcing_env(), clock=clock)
    try:
        loaded = fresh.get_messages([a, b, c])
        for mid in (a, b, c):
            assert vars(loaded[mid]) == vars(replayed(fresh, mid))
            assert loaded[mid].status == 201
        # A repeat is still a duplicate, read through the stale row and its events.
        written = fresh.record_delivery_reports([report(a, 201), report(b, 201)])
        assert [r["outcome"] for r in written.value] == ["duplicate", "duplicate"]
        # The next save writes current rows again.
        fresh.record_delivery_reports([report(a, 202), report(b, 202), report(c, 202)])
        assert_rows_match_events(fresh, [a, b, c])
    finally:
        fresh.close()


def test_a_large_send_writes_its_rows_by_copy_and_they_match(ledger: Ledger) -> None:
    """From ``COPY_FROM_ROWS`` new messages the rows go by ``COPY`` on PostgreSQL."""
    account = ledger.open_account("Big").value
    ledger.top_up(account.id, 10**9, "t")
    numbers = [f"+467012{i:05d}" for i in range(COPY_FROM_ROWS)]
    receipt = ledger.send_batch(account.id, sender="Big", recipients=numbers, body="hi")
    ids = [UUID(line["id"]) for line in receipt.lines]
    assert len(ids) == COPY_FROM_ROWS
    assert_rows_match_events(ledger, ids)
    started, _ = ledger.start_sending(ids, ledger.now()).value
    assert len(started) == COPY_FROM_ROWS
    assert_rows_match_events(ledger, ids)


def _watch_inserts(ledger: Ledger, before_first: Any = None) -> list[str]:
    """Each ``insert_events`` of ``ledger`` from now on, as "ok" or "conflict";
    ``before_first`` (if given) runs just before the first one."""
    seen: list[str] = []
    insert = ledger.recorder.insert_events

    def watched(*args: Any, **kwargs: Any) -> Any:
        if before_first is not None and not seen:
            before_first()
        try:
            ids = insert(*args, **kwargs)
        except RecordConflictError:
            seen.append("conflict")
            raise
        seen.append("ok")
        return ids

    ledger.recorder.insert_events = watched  # type: ignore[method-assign]
    return seen


def test_report_ingest_never_applies_a_report_to_a_row_behind_its_events(
    database: Database, ledger: Ledger, clock: FakeClock, write_path: str
) -> None:
    """Report ingest trusts each row as current on its first attempt (no look for
    newer events). A row planted one report behind: on it, the next report would be
    applied; its write conflicts with the event already at that version, and the
    retry, which probes, supersedes it as the events say."""
    _, (a, b) = handed_off(ledger, 2)
    clock.advance(minutes=5)
    rows = ledger.recorder.select_current_many([a], MESSAGE_STATE_FORMAT)  # type: ignore[attr-defined]
    (old_version, old_state), _ = rows[a]
    ledger.record_delivery_reports([report(a, 201)])  # delivered: final
    _rewrite(
        database,
        "UPDATE message_states SET version = %s, state = %s WHERE message_id = %s",
        old_version,
        old_state,
        _key(database, a),
    )
    fresh = Ledger(database.eventsourcing_env(), clock=clock)
    try:
        inserts = _watch_inserts(fresh)
        written = fresh.record_delivery_reports(
            [report(a, 503, "2026-11-02T09:06:00+00:00"), report(b, 201)]
        )
        assert [r["outcome"] for r in written.value] == ["superseded", "applied"]
        assert inserts == ["conflict", "ok"]
        topics = [e.topic.rsplit(".", 1)[-1] for e in fresh.recorder.select_events(a)]
        assert topics[old_version:] == ["ReportApplied", "ReportSuperseded"]
        assert [e.topic.rsplit(".", 1)[-1] for e in fresh.recorder.select_events(b)][
            old_version:
        ] == ["ReportApplied"]  # once: the conflicting attempt wrote nothing
        assert_rows_match_events(fresh, [a, b])
    finally:
        fresh.close()


def test_two_ledgers_reporting_on_the_same_messages_end_as_the_events_say(
    database: Database, ledger: Ledger, clock: FakeClock, write_path: str
) -> None:
    """Two processes ingest reports on the same messages: the second reads its rows,
    then the first commits before the second writes. The second's write conflicts
    and its retry judges its reports against what the first wrote."""
    _, (a, b) = handed_off(ledger, 2)
    clock.advance(minutes=5)
    other = Ledger(database.eventsourcing_env(), clock=clock)
    try:
        first = lambda: other.record_delivery_reports([report(a, 201), report(b, 201)])  # noqa: E731
        inserts = _watch_inserts(ledger, before_first=first)
        written = ledger.record_delivery_reports(
            [report(a, 201), report(b, 503, "2026-11-02T09:06:00+00:00")]
        )
        assert [r["outcome"] for r in written.value] == ["duplicate", "superseded"]
        assert inserts == ["conflict", "ok"]
        assert_rows_match_events(ledger, [a, b])
        assert ledger.get_messages([b])[b].status == 201
    finally:
        other.close()
