"""Workload: delivery-report ingest on PostgreSQL, batches of 1,000, messages not cached.

- limit: raw ``COPY`` of exactly the event rows smsledger wrote for those reports into a
  fresh table like the event table (given as reports/s);
- plain: what a user might build instead: a table with a status column, and one
  ``UPDATE ... SET status`` per report, a batch per transaction (``executemany``);
- naive-es: the eventsourcing library the obvious way: per report, load the message
  (``repository.get``), apply the report, refund if due, ``save`` (one transaction each);
- smsledger: ``Ledger.record_delivery_reports`` on a fresh ``Ledger`` that has never
  loaded those messages: one query loads the batch's messages (their current-state
  rows, written with their events; see docs/performance.md), each report is checked
  against its message (duplicate, superseded, refund policy), and every new event is
  written in one transaction.

Every message was sent, funded and handed off (4 events) before the clock starts. Each
batch reports on 1,000 messages nobody has read since: 90% delivered (201), 5% offline
(503, not final), 3% unknown subscriber (501), 2% no SMS subscription (410, refunded
to the balance, so the account is loaded and written too).

Run: ``python -m bench.reports [--batches N] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from bench.common import Result, copy_rows, hand_off, scratch_database, swedish_numbers
from smsledger.application.ledger import Ledger

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database

BATCH = 1000
CODES = [201] * 90 + [503] * 5 + [501] * 3 + [410] * 2


def _clock() -> datetime:
    return datetime.now(UTC)


def prepare(db: Database, n: int) -> list[uuid.UUID]:
    """``n`` messages handed off to a gateway, on one balance account."""
    ledger = Ledger(db.eventsourcing_env(), clock=_clock)
    account = ledger.open_account("Bench").value
    ledger.top_up(account.id, 10**12, "bench")
    ids: list[uuid.UUID] = []
    for start in range(0, n, 2000):
        numbers = swedish_numbers(min(2000, n - start), offset=start)
        receipt = ledger.send_batch(account.id, sender="Bench", recipients=numbers, body="Hi")
        batch = [uuid.UUID(line["id"]) for line in receipt.lines]
        hand_off(ledger, batch)
        ids += batch
    ledger.close()
    return ids


def reports_for(ids: list[uuid.UUID], rng: random.Random) -> list[dict[str, Any]]:
    at = _clock() - timedelta(seconds=5)
    out = []
    for m in ids:
        code = rng.choice(CODES)
        out.append(
            {
                "message_id": str(m),
                "status_code": code,
                "at": at.isoformat(),
                "raw": {"stat": code, "ref": f"gw-{m.hex[:8]}"},
            }
        )
    return out


def measure_smsledger(
    db: Database, ids: list[uuid.UUID], *, profile: bool = False
) -> tuple[list[float], list[float], tuple[int, int]]:
    """Reports/s per batch, seconds per batch, and the notification ids (after, upto]
    of the events the batches wrote."""
    rng = random.Random(7)
    ledger = Ledger(db.eventsourcing_env(), clock=_clock)  # fresh: nothing loaded yet
    first = ledger.recorder.max_notification_id() or 0
    rates, seconds = [], []
    profiler = cProfile.Profile() if profile else None
    for start in range(0, len(ids), BATCH):
        reports = reports_for(ids[start : start + BATCH], rng)
        if profiler:
            profiler.enable()
        t0 = time.perf_counter()
        written = ledger.record_delivery_reports(reports)
        elapsed = time.perf_counter() - t0
        if profiler:
            profiler.disable()
        assert all(r["outcome"] == "applied" for r in written.value), written.value[:3]
        rates.append(len(reports) / elapsed)
        seconds.append(elapsed)
    last = ledger.recorder.max_notification_id() or 0
    ledger.close()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return rates, seconds, (first, last)


def measure_naive(db: Database, ids: list[uuid.UUID]) -> list[float]:
    """Reports/s per batch, one load and one save per report."""
    from smsledger.domain.reports import parse_report

    rng = random.Random(7)
    ledger = Ledger(db.eventsourcing_env(), clock=_clock)
    rates = []
    for start in range(0, len(ids), BATCH):
        reports = reports_for(ids[start : start + BATCH], rng)
        t0 = time.perf_counter()
        for report in reports:
            p = parse_report(report)
            assert p is not None
            message = ledger.get_message(p.message_id)
            now = _clock()
            assert message.record_report(p.code, p.at, p.raw, now) == "applied"
            ledger.save(message, *ledger._refund_if_due([message], now))
        rates.append(len(reports) / (time.perf_counter() - t0))
    ledger.close()
    return rates


def measure_plain(db: Database, ids: list[uuid.UUID]) -> list[float]:
    """The same batches as plain status-row UPDATEs on a table of the same messages."""
    rng = random.Random(7)
    schema = sql.Identifier(db.schema)
    rates = []
    with psycopg.connect(db.conninfo()) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.plain_status (id uuid PRIMARY KEY, status integer NOT NULL, "
                "carrier_at timestamptz, updated_at timestamptz NOT NULL)"
            ).format(schema)
        )
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {}.plain_status VALUES (%s, 111, NULL, now())").format(schema),
                [(m,) for m in ids],
            )
        conn.commit()
        update = sql.SQL(
            "UPDATE {}.plain_status SET status = %s, carrier_at = %s, updated_at = now() "
            "WHERE id = %s"
        ).format(schema)
        for start in range(0, len(ids), BATCH):
            reports = reports_for(ids[start : start + BATCH], rng)
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                cur.executemany(
                    update,
                    [
                        (r["status_code"], datetime.fromisoformat(r["at"]), r["message_id"])
                        for r in reports
                    ],
                )
            conn.commit()
            rates.append(len(reports) / (time.perf_counter() - t0))
    return rates


def run(batches: int = 20, *, naive_batches: int = 1, profile: bool = False) -> list[Result]:
    with scratch_database("postgres") as db:
        ids = prepare(db, (batches + naive_batches) * BATCH)
        ours, naive_ids = ids[: batches * BATCH], ids[batches * BATCH :]
        mine, seconds, span = measure_smsledger(db, ours, profile=profile)
        copy_seconds, rows = copy_rows(db, *span, 3)
        plain = measure_plain(db, ours)
        naive = measure_naive(db, naive_ids)
    median = sorted(mine)[len(mine) // 2]
    return [
        Result(
            "reports",
            "limit: COPY of the same event rows",
            "reports/s",
            [len(ours) / s for s in copy_seconds],
            extra={"event_rows": rows},
        ),
        Result("reports", "plain: UPDATE a status row", "reports/s", plain),
        Result("reports", "naive-es: load and save per report", "reports/s", naive),
        Result(
            "reports",
            "smsledger",
            "reports/s",
            mine,
            extra={
                "batch": BATCH,
                "ms_per_batch": 1000 * sorted(seconds)[len(seconds) // 2],
                "ratio_to_plain": median / sorted(plain)[len(plain) // 2],
            },
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    results = run(args.batches, profile=args.profile)
    limit, plain, naive, mine = results
    print(f"  limit: COPY of the event rows: median {limit.median:>10,.0f} reports/s")
    print(f"  naive-es, load + save each:    median {naive.median:>10,.0f} reports/s")
    print(f"delivery reports, PostgreSQL, batches of {BATCH}, {args.batches} batches")
    print(f"  plain UPDATE of a status row: median {plain.median:>10,.0f} reports/s")
    print(
        f"  smsledger ingest (no cache):  median {mine.median:>10,.0f} reports/s"
        f"  ({mine.extra['ms_per_batch']:.1f} ms a batch)"
    )
    print(
        f"  ratio smsledger/plain: {mine.median / plain.median:.2f}"
        f"  (target >= 10,000 reports/s: {'met' if mine.median >= 10_000 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
