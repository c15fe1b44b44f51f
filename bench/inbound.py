"""Workload: inbound SMS ingest on PostgreSQL, batches of 1,000, beside report ingest.

- limit: raw ``COPY`` of exactly the event rows smsledger wrote for those SMS into a
  fresh table like the event table (given as SMS/s);
- reports: ``Ledger.record_delivery_reports``, the other ingest a gateway drives, in the
  same run, on the same database, batches of the same size (``bench/reports.py``'s
  workload: 2% of its reports refund a message);
- naive-es: the same SMS one ``receive_inbound`` call each (a transaction per SMS);
- smsledger: ``Ledger.receive_inbound`` as ``POST /v1/inbound-messages`` calls it, on a
  fresh ``Ledger`` wired to the read model as ``serve`` wires it.

Ten accounts hold a virtual number each, their stop service on. Each batch is 1,000 SMS
to those numbers from 1,000 senders nobody has seen: 98% plain replies, 2% ``STOP``
(the sender goes on the account's block list, the read model is asked for its pending
messages to cancel, the account is loaded and written).

Run: ``python -m bench.inbound [--batches N] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench import reports
from bench.common import Result, copy_rows, scratch_database, swedish_numbers
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.projections.queries import Queries

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database

BATCH = 1000
ACCOUNTS = 10
STOP_SHARE = 0.02


def _clock() -> datetime:
    return datetime.now(UTC)


def prepare(db: Database) -> list[str]:
    """``ACCOUNTS`` post-invoicing accounts with a virtual number and sms_stop on."""
    ledger = Ledger(db.eventsourcing_env(), clock=_clock)
    numbers = []
    for i in range(ACCOUNTS):
        account = ledger.open_account(f"Bench {i}", payment_model="post_invoice").value
        add_on, _ = ledger.order_add_on(account.id, "virtual_number", None).value
        assert add_on.number is not None
        ledger.set_stop_service(account.id, sms_stop=True, unsubscribe_link=False)
        numbers.append(add_on.number)
    ledger.close()
    return numbers


def sms_batch(numbers: list[str], start: int, rng: random.Random) -> list[dict[str, Any]]:
    at = _clock().isoformat()  # the numbers were claimed moments ago: not before
    senders = swedish_numbers(BATCH, offset=1_000_000 + start)
    return [
        {
            "to": rng.choice(numbers),
            "from": sender,
            "body": "STOP" if rng.random() < STOP_SHARE else "Thanks, see you at ten!",
            "at": at,
            "gateway_ref": f"bench-{start + i}",
        }
        for i, sender in enumerate(senders)
    ]


def _wired(db: Database) -> tuple[Ledger, Any]:
    ledger = Ledger(db.eventsourcing_env(), clock=_clock)  # fresh: nothing loaded yet
    views = open_views(db)
    ledger.pending_messages = Queries(ledger, views).pending_messages
    return ledger, views


def measure_smsledger(
    db: Database, numbers: list[str], batches: int, *, profile: bool = False
) -> tuple[list[float], list[float], tuple[int, int]]:
    """SMS/s per batch, seconds per batch, and the notification ids (after, upto] of the
    events the batches wrote."""
    rng = random.Random(11)
    ledger, views = _wired(db)
    first = ledger.recorder.max_notification_id() or 0
    rates, seconds = [], []
    profiler = cProfile.Profile() if profile else None
    for b in range(batches):
        batch = sms_batch(numbers, b * BATCH, rng)
        if profiler:
            profiler.enable()
        t0 = time.perf_counter()
        written = ledger.receive_inbound(batch)
        elapsed = time.perf_counter() - t0
        if profiler:
            profiler.disable()
        assert all(r["outcome"] == "stored" for r in written.value), written.value[:3]
        rates.append(len(batch) / elapsed)
        seconds.append(elapsed)
    last = ledger.recorder.max_notification_id() or 0
    ledger.close()
    views.close()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return rates, seconds, (first, last)


def measure_naive(db: Database, numbers: list[str], start: int, count: int) -> list[float]:
    """SMS/s of ``count`` SMS taken one call (one transaction) each."""
    rng = random.Random(13)
    ledger, views = _wired(db)
    batch = sms_batch(numbers, start, rng)[:count]
    t0 = time.perf_counter()
    for sms in batch:
        (result,) = ledger.receive_inbound([sms]).value
        assert result["outcome"] == "stored"
    rate = len(batch) / (time.perf_counter() - t0)
    ledger.close()
    views.close()
    return [rate]


def run(batches: int = 20, *, naive: int = 300, profile: bool = False) -> list[Result]:
    with scratch_database("postgres") as db:
        numbers = prepare(db)
        mine, seconds, span = measure_smsledger(db, numbers, batches, profile=profile)
        copy_seconds, rows = copy_rows(db, *span, 3)
        slow = measure_naive(db, numbers, (batches + 1) * BATCH, naive)
        # The delivery-report ingest, same run, same database, same batch size.
        ids = reports.prepare(db, batches * BATCH)
        report_rates, _, _ = reports.measure_smsledger(db, ids)
    median = sorted(mine)[len(mine) // 2]
    report_median = sorted(report_rates)[len(report_rates) // 2]
    return [
        Result(
            "inbound",
            "limit: COPY of the same event rows",
            "SMS/s",
            [batches * BATCH / s for s in copy_seconds],
            extra={"event_rows": rows},
        ),
        Result("inbound", "reports: delivery-report ingest, same run", "reports/s", report_rates),
        Result("inbound", "naive-es: one transaction per SMS", "SMS/s", slow),
        Result(
            "inbound",
            "smsledger",
            "SMS/s",
            mine,
            extra={
                "batch": BATCH,
                "stop_share": STOP_SHARE,
                "ms_per_batch": 1000 * sorted(seconds)[len(seconds) // 2],
                "ratio_to_reports": median / report_median,
            },
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    limit, report_ingest, naive, mine = run(args.batches, profile=args.profile)
    print(f"inbound SMS, PostgreSQL, batches of {BATCH}, {args.batches} batches")
    print(f"  limit: COPY of the event rows: median {limit.median:>10,.0f} SMS/s")
    print(f"  naive-es, a transaction each:  median {naive.median:>10,.0f} SMS/s")
    print(f"  delivery reports, same run:    median {report_ingest.median:>10,.0f} reports/s")
    print(
        f"  smsledger inbound ingest:      median {mine.median:>10,.0f} SMS/s"
        f"  ({mine.extra['ms_per_batch']:.1f} ms a batch)"
    )
    print(f"  ratio inbound/reports: {mine.median / report_ingest.median:.2f}")


if __name__ == "__main__":
    main()
