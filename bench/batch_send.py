"""Workload: one 10,000-recipient batch send, beside the limit and the alternatives.

- limit: raw ``COPY`` of exactly the event rows smsledger wrote for its last batch into
  a fresh table like the event table (rows/s; also given as messages/s equivalent); on
  SQLite, which has no COPY, one ``executemany`` of those rows in one transaction;
- plain: what a user might build instead: one INSERT of a status row per message and a
  balance column decremented, in one transaction (``executemany``);
- naive-es: the eventsourcing library used the obvious way: one ``save`` per message;
- smsledger: ``Ledger.send_batch``, the account and all messages in one transaction.

On PostgreSQL and on SQLite (the embedded default), each in a throwaway database.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg

from bench.common import (
    Result,
    copy_rows,
    insert_rows_sqlite,
    scratch_database,
    swedish_numbers,
)
from smsledger.application.ledger import Ledger
from smsledger.domain.message import Message

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database


def _clock() -> datetime:
    return datetime.now(UTC)


def measure_smsledger(
    db: Database, recipients: int, runs: int
) -> tuple[list[float], tuple[int, int]]:
    """Messages/s per batch, and the notification ids (after, upto] of the last batch."""
    ledger = Ledger(db.eventsourcing_env(), clock=_clock)
    account = ledger.open_account("Bench", payment_model="post_invoice").value
    samples: list[float] = []
    span = (0, 0)
    for run in range(runs):
        numbers = swedish_numbers(recipients, offset=run * recipients)
        before = ledger.recorder.max_notification_id() or 0
        start = time.perf_counter()
        receipt = ledger.send_batch(account.id, sender="Bench", recipients=numbers, body="Hi")
        samples.append(recipients / (time.perf_counter() - start))
        assert sum(1 for line in receipt.lines if line["status"] == 103) == recipients
        span = (before, ledger.recorder.max_notification_id() or 0)
    ledger.close()
    return samples, span


def measure_plain(db: Database, recipients: int, runs: int) -> list[float]:
    """Messages/s: a status row inserted per message and a balance column decremented,
    in one transaction (``executemany``)."""
    pg = db.is_postgres
    ph = "%s" if pg else "?"
    conn: Any = psycopg.connect(db.conninfo()) if pg else db.sqlite_connect()
    prefix = f'"{db.schema}".' if pg else ""
    samples = []
    try:
        conn.execute(
            f"CREATE TABLE {prefix}plain_messages (id {'uuid' if pg else 'TEXT'} PRIMARY KEY, "
            "account_id TEXT, recipient TEXT, body TEXT, status INTEGER, price INTEGER, "
            "created_at TEXT)"
        )
        conn.execute(f"CREATE TABLE {prefix}plain_accounts (id TEXT PRIMARY KEY, balance BIGINT)")
        account = str(uuid.uuid4())
        conn.execute(f"INSERT INTO {prefix}plain_accounts VALUES ({ph}, {ph})", (account, 10**12))
        if pg:
            conn.commit()
        for run in range(runs):
            numbers = swedish_numbers(recipients, offset=run * recipients)
            now = _clock().isoformat()
            start = time.perf_counter()
            if not pg:
                conn.execute("BEGIN")
            cur = conn.cursor()
            cur.executemany(
                f"INSERT INTO {prefix}plain_messages VALUES ({', '.join([ph] * 7)})",
                [
                    (uuid.uuid4() if pg else str(uuid.uuid4()), account, n, "Hi", 103, 45, now)
                    for n in numbers
                ],
            )
            cur.execute(
                f"UPDATE {prefix}plain_accounts SET balance = balance - {ph} WHERE id = {ph}",
                (45 * recipients, account),
            )
            if pg:
                conn.commit()
            else:
                conn.execute("COMMIT")
            samples.append(recipients / (time.perf_counter() - start))
    finally:
        conn.close()
    return samples


def measure_naive(db: Database, recipients: int, runs: int) -> list[float]:
    """One ``save`` per message: the library used the obvious way."""
    ledger = Ledger(db.eventsourcing_env(), clock=_clock)
    account = ledger.open_account("Naive", payment_model="post_invoice").value
    batch = uuid.uuid4()
    samples = []
    for run in range(runs):
        numbers = swedish_numbers(recipients, offset=run * recipients)
        now = _clock()
        start = time.perf_counter()
        for n in numbers:
            m = Message(
                account_id=account.id,
                batch_id=batch,
                sender="Naive",
                recipient=n,
                body="Hi",
                segments=1,
                encoding="GSM-7",
                unit_price=45,
                price=45,
                currency="SEK",
                timezone="Europe/Stockholm",
                validity_period=259200,
                send_at=None,
                timestamp=now,
            )
            m.fund("invoice", now)
            ledger.save(m)
        samples.append(recipients / (time.perf_counter() - start))
    ledger.close()
    return samples


def run(*, quick: bool = False, backends: tuple[str, ...] = ("postgres", "sqlite")) -> list[Result]:
    recipients = 500 if quick else 10_000
    runs = 2 if quick else 5
    naive_n = 200 if quick else 1000
    out: list[Result] = []
    for backend in backends:
        with scratch_database(backend) as db:
            ours, span = measure_smsledger(db, recipients, runs)
            if db.is_postgres:
                seconds, copied = copy_rows(db, *span, runs)
                limit = "limit: COPY of the same event rows"
            else:
                seconds, copied = insert_rows_sqlite(db, *span, runs)
                limit = "limit: executemany of the same event rows"
            rates = [copied / s for s in seconds]
            out += [
                Result(
                    "batch_send",
                    limit,
                    "rows/s",
                    rates,
                    backend=backend,
                    extra={
                        "rows": copied,
                        "messages_per_s_equiv": round(
                            statistics.median(rates) * recipients / copied
                        ),
                    },
                ),
                Result(
                    "batch_send",
                    "plain: status rows + balance column",
                    "messages/s",
                    measure_plain(db, recipients, runs),
                    backend=backend,
                ),
                Result(
                    "batch_send",
                    "naive-es: one save per message",
                    "messages/s",
                    measure_naive(db, naive_n, max(2, runs - 2)),
                    backend=backend,
                    extra={"naive_recipients": naive_n},
                ),
                Result(
                    "batch_send",
                    "smsledger",
                    "messages/s",
                    ours,
                    backend=backend,
                    extra={"recipients": recipients, "event_rows": copied},
                ),
            ]
    return out


if __name__ == "__main__":
    import sys

    for r in run(quick="--quick" in sys.argv):
        print(
            f"{r.backend:8} {r.variant:42} median {r.median:>12,.0f} {r.unit}  "
            f"samples={[round(s) for s in r.samples]} {r.extra}"
        )
