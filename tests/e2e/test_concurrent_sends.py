"""Never a charge without an answer: many concurrent sends against a real ``serve``.

Every request is answered 202 (a message short of balance is a 402 inside it), and the
charges the event store holds are exactly the ones the 202 answers gave: same messages,
same amounts, each once. On SQLite the writers queue for the one write lock instead of
timing out; on PostgreSQL sends to one account take turns instead of conflicting. The
turn holds across processes too (``smsledger.adapters.locks``): two ``serve`` processes
on one database, each taking half of the sends, still answer 60 x 202.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import pytest

from tests.e2e.serving import serve
from tests.e2e.traffic import (
    Answer,
    charged,
    in_parallel,
    open_sender,
    send_one,
    serve_env,
    stored,
)

if TYPE_CHECKING:
    from pathlib import Path

    from smsledger.adapters.storage import Database

pytestmark = pytest.mark.slow

PRICE = 45  # one GSM-7 segment to a Swedish number, in öre (domain/prices.json)


def _check_charges_equal_answers(
    database: Database, account_id: str, answers: list[Answer]
) -> None:
    promised = charged(answers)
    in_store = stored(database, account_id)
    assert in_store.charges == promised
    assert all(n == 1 for n in in_store.times_charged.values())
    assert sum(in_store.charges.values()) == sum(promised.values())


def test_sixty_concurrent_sends_are_all_answered_and_charged_once(
    database: Database, tmp_path: Path
) -> None:
    with serve(tmp_path, serve_env(database)) as served:
        # Balance for 40 of the 60: the last ones to take their turn find it spent.
        sender = open_sender(served.url, balance=40 * PRICE)
        answers = in_parallel(
            [partial(send_one, served.url, sender, n) for n in range(60)], threads=60
        )
    statuses = sorted({a.status for a in answers}, key=str)
    assert statuses == [202], [(a.status, a.error, a.body) for a in answers if a.status != 202]
    funded = charged(answers)
    assert len(funded) == 40
    short = [m for a in answers for m in a.body["messages"] if m["status"]["code"] == 402]
    assert len(short) == 20
    _check_charges_equal_answers(database, sender.account_id, answers)


def test_two_clients_thirty_each_are_all_answered_and_charged_once(
    database: Database, tmp_path: Path
) -> None:
    with serve(tmp_path, serve_env(database)) as served:
        sender = open_sender(served.url, balance=100 * PRICE)
        answers = in_parallel(
            [partial(send_one, served.url, sender, n) for n in range(60)], threads=2
        )
    assert [a.status for a in answers] == [202] * 60
    assert len(charged(answers)) == 60
    _check_charges_equal_answers(database, sender.account_id, answers)


def test_sixty_sends_split_over_two_processes_are_all_answered_and_charged_once(
    database: Database, tmp_path: Path
) -> None:
    # Two API processes on one database (the second without workers), taking turns
    # per account between them; the sends alternate between the two.
    env = serve_env(database)
    api_only = {**env, "SMSLEDGER_WORKERS": "none"}
    with serve(tmp_path, env) as first, serve(tmp_path, api_only) as second:
        sender = open_sender(first.url, balance=50 * PRICE)
        urls = [first.url, second.url]
        answers = in_parallel(
            [partial(send_one, urls[n % 2], sender, n) for n in range(60)], threads=60
        )
    statuses = [a.status for a in answers]
    assert statuses == [202] * 60, [(a.status, a.error, a.body) for a in answers if a.status != 202]
    assert len(charged(answers)) == 50
    short = [m for a in answers for m in a.body["messages"] if m["status"]["code"] == 402]
    assert len(short) == 10
    _check_charges_equal_answers(database, sender.account_id, answers)
