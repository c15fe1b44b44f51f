"""Workload: cost as the store grows, at 10,000 and at 1,000,000 stored messages.

One PostgreSQL schema is grown through the real write path (``Ledger.send_batch``, 10,000
recipients a batch, all on ONE prepaid account, so that account's stream grows with it)
and its read models caught up. At each size the same operations are measured:

- send: a 10,000-recipient batch on that account (messages/s);
- reports: 1,000-report batches on freshly handed-off messages of that account, with a
  fresh ``Ledger`` (nothing cached); 2% of them refund, so the account is loaded too;
- reads over HTTP (uvicorn + ``wrk``, 32 connections, the real API and keys):
  ``GET /v1/messages/{id}`` on random ids of the whole store, the message's history,
  the account (its balance) and the month's invoice.

"Flat" means the larger store's figure is within 20% of the smaller one's. Run:
``python -m bench.scale [--sizes 10000,1000000] [--quick]``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from bench import api_read, reports
from bench.common import Result, hand_off, scratch_database, swedish_numbers
from smsledger.adapters.keys import KeyStore
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from smsledger.domain.periods import period_of
from smsledger.projections.queries import build_runner

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database

BATCH = 10_000
REPORT_BATCH = reports.BATCH
SAMPLE_IDS = 20_000


def _clock() -> datetime:
    return datetime.now(UTC)


class Store:
    """The growing store: one prepaid account that every message is sent from."""

    def __init__(self, db: Database, batch: int) -> None:
        self.db = db
        self.batch = batch
        self.ledger = Ledger(db.eventsourcing_env(), clock=_clock)
        self.views = open_views(db)
        self.runner = build_runner(self.ledger, self.views)
        self.account = self.ledger.open_account("Scale").value.id
        self.ledger.top_up(self.account, 10**12, "scale")
        keys = KeyStore(self.views)
        self.support = keys.issue("support", self.account).key
        self.finance = keys.issue("finance", self.account).key
        self.stored = 0
        self.numbers = 0

    def send(self, n: int) -> float:
        """Send ``n`` messages in one batch; returns the seconds it took."""
        recipients = swedish_numbers(n, offset=self.numbers)
        self.numbers += n
        start = time.perf_counter()
        receipt = self.ledger.send_batch(
            self.account, sender="Scale", recipients=recipients, body="Hello at scale"
        )
        elapsed = time.perf_counter() - start
        assert all(line["status"] == 103 for line in receipt.lines)
        self.stored += n
        return elapsed

    def grow_to(self, size: int) -> float:
        """Send batches until ``size`` messages are stored; returns messages/s."""
        start, sent = time.perf_counter(), 0
        while self.stored < size:
            n = min(self.batch, size - self.stored)
            self.send(n)
            sent += n
        return sent / max(time.perf_counter() - start, 1e-9)

    def handed_off(self, n: int) -> list[uuid.UUID]:
        """``n`` new messages of the account, handed off to a gateway (reportable)."""
        recipients = swedish_numbers(n, offset=self.numbers)
        self.numbers += n
        receipt = self.ledger.send_batch(
            self.account, sender="Scale", recipients=recipients, body="Report me"
        )
        self.stored += n
        ids = [uuid.UUID(line["id"]) for line in receipt.lines]
        hand_off(self.ledger, ids)
        return ids

    def catch_up(self) -> float:
        """Bring every read model to the head; returns events/s."""
        start = time.perf_counter()
        applied = self.runner.run_once()
        return applied / max(time.perf_counter() - start, 1e-9)

    def analyze(self) -> None:
        """Statistics for the planner, then a checkpoint, at every size alike: otherwise
        the sends measured right after projecting 2,000,000 events and vacuuming a 1 GB
        table ran while the server was still writing that backlog out (x0.48 in one run;
        the same store measured quietly sent at ~11,000 messages/s, as fast as at 10,000)."""
        with psycopg.connect(self.db.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.db.schema)))
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")

    def event_bytes(self) -> int:
        with psycopg.connect(self.db.conninfo()) as conn:
            row = conn.execute(
                "SELECT pg_total_relation_size(%s)", (f'"{self.db.schema}".ledger_events',)
            ).fetchone()
        return int(row[0]) if row else 0

    def sample_ids(self, n: int) -> list[str]:
        with self.views.reading() as cur:
            cur.execute(f"SELECT id FROM view_messages ORDER BY random() LIMIT {int(n)}")
            return [str(r[0]) for r in cur.fetchall()]

    def close(self) -> None:
        self.views.close()
        self.ledger.close()


def measure_reports(store: Store, batches: int) -> list[float]:
    ids = store.handed_off(batches * REPORT_BATCH)
    rng = random.Random(11)
    fresh = Ledger(store.db.eventsourcing_env(), clock=_clock)  # nothing cached
    rates = []
    for start in range(0, len(ids), REPORT_BATCH):
        batch = reports.reports_for(ids[start : start + REPORT_BATCH], rng)
        t0 = time.perf_counter()
        written = fresh.record_delivery_reports(batch)
        rates.append(len(batch) / (time.perf_counter() - t0))
        assert all(r["outcome"] == "applied" for r in written.value)
    fresh.close()
    return rates


def measure_reads(store: Store, seconds: int) -> dict[str, dict[str, float]]:
    """wrk at 32 connections against the real API, one endpoint after another."""
    period = period_of(_clock(), "Europe/Stockholm")
    ids = store.sample_ids(SAMPLE_IDS)
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, lines in (("ids", ids), ("account", [str(store.account)]), ("period", [period])):
            files[name] = str(Path(tmp) / f"{name}.txt")
            Path(files[name]).write_text("\n".join(lines) + "\n")
        url = api_read.database_url(store.db)
        with api_read.server("smsledger", url, api_read.free_port()) as base:
            for name, prefix, ids_file, key in (
                ("message", "/v1/messages/", files["ids"], store.support),
                ("account", "/v1/accounts/", files["account"], store.finance),
                (
                    "invoice",
                    f"/v1/accounts/{store.account}/invoices/",
                    files["period"],
                    store.finance,
                ),
            ):
                out[name] = api_read.wrk(
                    base, prefix, ids_file, f"Bearer {key}", seconds, api_read.CONNECTIONS
                )
            out["history"] = api_read.wrk(
                base,
                "/v1/messages/",
                files["ids"],
                f"Bearer {store.support}",
                seconds,
                api_read.CONNECTIONS,
                suffix="/history",
            )
    for name, m in out.items():
        assert m["errors"] == 0, f"{name}: {m}"
    return out


def run(sizes: tuple[int, ...] = (10_000, 1_000_000), *, quick: bool = False) -> list[Result]:
    batch = 1_000 if quick else BATCH
    send_runs = 2 if quick else 3
    report_batches = 1 if quick else 5
    seconds = 2 if quick else 8
    results: list[Result] = []
    with scratch_database("postgres") as db:
        store = Store(db, batch)
        try:
            for size in sizes:
                grow_rate = store.grow_to(size)
                store.catch_up()
                store.analyze()
                stored = store.stored
                send = [batch / store.send(batch) for _ in range(send_runs)]
                rates = measure_reports(store, report_batches)
                catchup_rate = store.catch_up()
                store.analyze()
                reads = measure_reads(store, seconds)
                common: dict[str, float | int | str] = {
                    "stored": stored,
                    "event_table_mb": round(store.event_bytes() / 2**20, 1),
                }
                results.append(
                    Result(
                        "scale: send",
                        "smsledger",
                        "messages/s",
                        send,
                        extra={**common, "batch": batch, "grow_messages_per_s": round(grow_rate)},
                    )
                )
                results.append(
                    Result(
                        "scale: reports",
                        "smsledger",
                        "reports/s",
                        rates,
                        extra={**common, "catchup_events_per_s": round(catchup_rate)},
                    )
                )
                for name, m in reads.items():
                    results.append(
                        Result(
                            f"scale: read {name}",
                            "smsledger",
                            "req/s",
                            [m["req_per_s"]],
                            extra={**common, **{k: round(v, 3) for k, v in m.items()}},
                        )
                    )
        finally:
            store.close()
    return results


def flatness(results: list[Result]) -> list[tuple[str, float, float, float]]:
    """Per scale workload: (workload, smallest store's median, largest's, largest/smallest)."""
    out = []
    for workload in dict.fromkeys(r.workload for r in results if r.workload.startswith("scale")):
        rows = sorted(
            (r for r in results if r.workload == workload), key=lambda r: int(r.extra["stored"])
        )
        if len(rows) >= 2:
            small, large = rows[0].median, rows[-1].median
            out.append((workload, small, large, large / small if small else float("nan")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    results = run(sizes, quick=args.quick)
    for r in results:
        print(
            f"{r.workload:22} stored {int(r.extra['stored']):>9,}  median {r.median:>10,.0f} "
            f"{r.unit:11} samples={[round(s) for s in r.samples]}"
        )
    for workload, small, large, ratio in flatness(results):
        verdict = "flat" if 0.8 <= ratio <= 1.2 else ("better" if ratio > 1.2 else "NOT flat")
        print(f"{workload:22} {small:>10,.0f} -> {large:>10,.0f}  x{ratio:.2f}  {verdict}")


if __name__ == "__main__":
    main()
