"""Workload: projection catch-up on PostgreSQL, in log events per second.

A log of realistic traffic (accounts on both payment models, top-ups, batches, the
dispatcher's and the carrier's events for most messages, some cancels with refunds,
an issued invoice) is projected from zero into every read model by:

- smsledger: ``projections.queries.build_runner`` — pages of up to 20,000 events, each
  page's rows written in bulk (binary COPY / executemany) with the tracking in one
  transaction;
- library: ``eventsourcing.projection.ProjectionRunner`` with a ``Projection`` whose
  ``process_event`` writes the same rows (the same projection code, given one event at
  a time) and its tracking record in one transaction per event — the library's model.

- limit: what no projection can beat: read every event row of the log (binary) and
  ``COPY`` every view row the projections produced into fresh tables like the views
  (their indexes included), as events/s of the log. The COPY is binary, as the
  runner's: a text COPY (the limit until 2026-12-04) is ~1.2x slower, so the runner
  would beat a part of its own limit.

A plain, non-event-sourced build has no catch-up (its tables are written in place), so
there is no plain variant. All replay the same log, in the same run; medians of the runs
and their ratios are printed.
``python -m bench.catchup [--events N] [--runs R] [--baseline-runs B]``
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import psycopg
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection as LibraryProjection
from eventsourcing.projection import ProjectionRunner as LibraryRunner
from psycopg import sql
from psycopg.rows import tuple_row

from bench.common import Result, scratch_database, swedish_numbers
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.projections import all_projections
from smsledger.projections.queries import build_runner
from smsledger.projections.runner import LoggedEvent
from smsledger.projections.runner import Projection as OurProjection

if TYPE_CHECKING:
    from eventsourcing.persistence import Tracking

    from smsledger.adapters.storage import Database

VIEW_TABLES = (
    "view_messages",
    "view_accounts",
    "view_ledger_entries",
    "view_invoices",
    "view_invoice_lines",
    "view_invoice_messages",
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def populate(db: Database, events: int) -> int:
    """Write about ``events`` events of mixed traffic; returns the log's head."""
    clock = Clock()
    ledger = Ledger(db.eventsourcing_env(), clock=clock)
    prepaid = [ledger.open_account(f"Prepaid {i}").value.id for i in range(4)]
    post = [
        ledger.open_account(f"Post {i}", payment_model="post_invoice").value.id for i in range(4)
    ]
    for i, account in enumerate(prepaid):
        ledger.top_up(account, 10**10, f"shop-{i}")
    n, batch = 0, 0
    while int(ledger.recorder.max_notification_id() or 0) < events:
        account = (prepaid + post)[batch % 8]
        receipt = ledger.send_batch(
            account, sender="Bench", recipients=swedish_numbers(500, offset=n), body="Hello"
        )
        n += 500
        batch += 1
        clock.now += timedelta(minutes=7)
        ids = [UUID(line["id"]) for line in receipt.lines]
        # Cancel a few before hand-off (a refund each), deliver most, leave some pending.
        for mid in ids[:10]:
            ledger.cancel(mid)
        messages = list(ledger.get_messages(ids[10:450]).values())
        now = clock.now
        for i, m in enumerate(messages):
            m.start_sending(now)
            m.hand_off(f"gw-{i}", now)
            m.record_report(201 if i % 10 else 502, now, None, now)
        ledger.save(*messages)
    clock.now = datetime(2026, 12, 1, 1, tzinfo=UTC)
    ledger.issue_invoice(post[0], "2026-11")
    head = int(ledger.recorder.max_notification_id() or 0)
    ledger.close()
    return head


def clear_views(db: Database, tracking: str) -> None:
    views = open_views(db)
    with views.transaction() as cur:
        # TRUNCATE, not DELETE: every run starts from the same fresh tables.
        cur.execute(f"TRUNCATE {', '.join(VIEW_TABLES)}")
        cur.execute(tracking)
    with views.reading() as cur:
        cur.execute("VACUUM ANALYZE")
    views.close()


def measure_smsledger(db: Database, head: int, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        clear_views(db, "DELETE FROM projection_tracking")
        ledger = Ledger(db.eventsourcing_env())
        views = open_views(db)
        runner = build_runner(ledger, views)
        start = time.perf_counter()
        runner.run_once()
        elapsed = time.perf_counter() - start
        assert min(runner.positions().values()) == head
        samples.append(head / elapsed)
        views.close()
        ledger.close()
    return samples


def measure_limit(db: Database, head: int, runs: int) -> list[float]:
    """Events/s of reading the log and COPYing the finished views' rows (run after
    ``measure_smsledger``, so the views hold exactly what catch-up writes)."""
    schema = sql.Identifier(db.schema)
    samples = []
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(schema))
        views = {
            t: conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(t))).fetchall()
            for t in VIEW_TABLES
        }
        types = {
            t: [
                r[0]
                for r in conn.execute(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
                    "ORDER BY attnum",
                    (t,),
                )
            ]
            for t in VIEW_TABLES
        }
        for run in range(runs):
            copies = {t: sql.Identifier(f"limit_{run}_{t}") for t in VIEW_TABLES}
            for table, copy_table in copies.items():
                conn.execute(
                    sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                        copy_table, sql.Identifier(table)
                    )
                )
            start = time.perf_counter()
            with conn.transaction(), conn.cursor(row_factory=tuple_row, binary=True) as cur:
                cur.execute(
                    "SELECT notification_id, originator_id, originator_version, topic, state "
                    "FROM ledger_events ORDER BY notification_id"
                )
                assert len(cur.fetchall()) == head
                for table, rows in views.items():
                    copy_sql = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(copies[table])
                    with cur.copy(copy_sql) as copy:
                        copy.set_types(types[table])
                        for row in rows:
                            copy.write_row(row)
            samples.append(head / (time.perf_counter() - start))
            for copy_table in copies.values():
                conn.execute(sql.SQL("DROP TABLE {}").format(copy_table))
    return samples


# --- the library's way: one event per transaction --------------------------------------


class PerEventView(PostgresTrackingRecorder):
    """A materialised view: our projections' rows, plus the library's tracking table."""

    projections: ClassVar[list[OurProjection]] = []

    def process(self, event: Any, tracking: Tracking) -> None:
        topic = type(event).TOPIC
        logged = LoggedEvent(tracking.notification_id, topic, event)
        with self.datastore.transaction(commit=True) as curs:
            cur = curs.connection.cursor(row_factory=tuple_row)
            cur.execute(
                sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.datastore.schema))
            )
            for projection in self.projections:
                if topic in projection.topics:
                    projection.apply(cur, [logged])
            self._insert_tracking(curs, tracking)


class PerEventProjection(LibraryProjection[PerEventView]):
    name = "perevent"
    topics = tuple(sorted({t for p in all_projections("postgres") for t in p.topics}))

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.process(domain_event, tracking)


def measure_library(db: Database, head: int, runs: int) -> list[float]:
    samples = []
    env = {**db.eventsourcing_env(), "PEREVENT_CREATE_TABLE": "y"}
    for _ in range(runs):
        clear_views(db, "DROP TABLE IF EXISTS perevent_tracking")
        binder = Ledger(db.eventsourcing_env())
        PerEventView.projections = all_projections("postgres")
        for projection in PerEventView.projections:
            projection.bind(binder)
        start = time.perf_counter()
        with LibraryRunner(
            application_class=Ledger,
            projection_class=PerEventProjection,
            view_class=PerEventView,
            env=env,
        ) as runner:
            runner.wait(head, timeout=3600)
            elapsed = time.perf_counter() - start
        samples.append(head / elapsed)
        binder.close()
    return samples


def run(events: int, runs: int, baseline_runs: int) -> list[Result]:
    with scratch_database("postgres") as db:
        head = populate(db, events)
        ours = measure_smsledger(db, head, runs)
        limit = measure_limit(db, head, runs)
        theirs = measure_library(db, head, baseline_runs) if baseline_runs else [float("nan")]
    extra: dict[str, float | int | str] = {"events": head}
    return [
        Result(
            "catchup", "limit: read the log, COPY the view rows", "events/s", limit, extra=extra
        ),
        Result("catchup", "naive-es: library ProjectionRunner", "events/s", theirs, extra=extra),
        Result("catchup", "smsledger", "events/s", ours, extra=extra),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-runs", type=int, default=3)
    args = parser.parse_args()
    limit, theirs, ours = run(args.events, args.runs, args.baseline_runs)
    print(f"catch-up on PostgreSQL, {ours.extra['events']} events, all read models")
    for r in (limit, ours, theirs):
        samples = ", ".join(f"{s:,.0f}" for s in r.samples)
        print(f"  {r.variant:<36} median {r.median:>9,.0f} events/s   ({samples})")
    print(f"  ratio              {ours.median / theirs.median:.1f}x")
    met = ours.median >= 50_000 and ours.median >= 0.5 * limit.median
    print(f"  of the limit       {ours.median / limit.median:.2f}x")
    print(f"  target             50,000 events/s and 0.5x the limit: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
