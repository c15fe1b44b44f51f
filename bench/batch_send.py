"""Workload: one 10,000-recipient batch send, beside the limit and the alternatives.

- limit: raw ``COPY`` of exactly the event rows smsledger wrote for its last batch into
  a fresh table like the event table (rows/s; also given as messages/s equivalent);
- plain: what a user might build instead: one INSERT of a status row per message and a
  balance column decremented, in one transaction (``executemany``);
- naive-es: the eventsourcing library used the obvious way: one ``save`` per message;
- smsledger: ``Ledger.send_batch``, the account and all messages in one transaction.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from bench.common import Result, copy_rows, scratch_database, swedish_numbers
from domain.message import Message
from smsledger.application import Ledger

if TYPE_CHECKING:
    from smsledger.storage import Database


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
    samples = []
    with psycopg.connect(db.conninfo()) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.plain_messages (id uuid PRIMARY KEY, account_id uuid, "
                "recipient text, body text, status int, price int, created_at timestamptz);"
                "CREATE TABLE {}.plain_accounts (id uuid PRIMARY KEY, balance bigint)"
            ).format(sql.Identifier(db.schema), sql.Identifier(db.schema))
        )
        account = uuid.uuid4()
        conn.execute(
            sql.SQL("INSERT INTO {}.plain_accounts VALUES (%s, %s)").format(
                sql.Identifier(db.schema)
            ),
            (account, 10**12),
        )
        conn.commit()
        for run in range(runs):
            numbers = swedish_numbers(recipients, offset=run * recipients)
            now = _clock()
            start = time.perf_counter()
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL("INSERT INTO {}.plain_messages VALUES (%s,%s,%s,%s,%s,%s,%s)").format(
                        sql.Identifier(db.schema)
                    ),
                    [(uuid.uuid4(), account, n, "Hi", 103, 45, now) for n in numbers],
                )
                cur.execute(
                    sql.SQL(
                        "UPDATE {}.plain_accounts SET balance = balance - %s WHERE id = %s"
                    ).format(sql.Identifier(db.schema)),
                    (45 * recipients, account),
                )
            conn.commit()
            samples.append(recipients / (time.perf_counter() - start))
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


def run(*, quick: bool = False) -> list[Result]:
    recipients = 500 if quick else 10_000
    runs = 2 if quick else 5
    out: list[Result] = []
    with scratch_database("postgres") as db:
        ours, span = measure_smsledger(db, recipients, runs)
        seconds, copied = copy_rows(db, *span, runs)
        copy = [copied / s for s in seconds]
        out.append(
            Result(
                "batch_send",
                "smsledger",
                "messages/s",
                ours,
                extra={"recipients": recipients, "event_rows": copied},
            )
        )
        out.append(
            Result(
                "batch_send",
                "limit: COPY of the same event rows",
                "rows/s",
                copy,
                extra={
                    "rows": copied,
                    "messages_per_s_equiv": round(
                        sorted(copy)[len(copy) // 2] * recipients / copied
                    ),
                },
            )
        )
        out.append(
            Result(
                "batch_send",
                "plain: status rows + balance column",
                "messages/s",
                measure_plain(db, recipients, runs),
            )
        )
        naive_n = 200 if quick else 1000
        out.append(
            Result(
                "batch_send",
                "naive-es: one save per message",
                "messages/s",
                measure_naive(db, naive_n, max(2, runs - 2)),
                extra={"recipients": naive_n},
            )
        )
    return out


if __name__ == "__main__":
    import sys

    for r in run(quick="--quick" in sys.argv):
        print(
            f"{r.workload:12} {r.variant:32} median {r.median:>12,.0f} {r.unit}  "
            f"samples={[round(s) for s in r.samples]} {r.extra}"
        )
