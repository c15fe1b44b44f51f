"""Reads from a real streaming hot standby (``SMSLEDGER_READ_DATABASE_URL``).

A private primary and a ``pg_basebackup -R`` standby of it on loopback
(``bench/standby.py``; the shared server is never touched), and a real ``serve`` that
writes to the primary and reads its views from the standby. ``X-Ledger-Min-Position``
waits for the projections' tracking positions as the STANDBY has replayed them: a
read with the position of a write is current; a standby that falls behind
(``pg_wal_replay_pause()``) answers 503 + Retry-After for a position it has not
replayed, never the stale row as if current; a standby that goes away is 503, never 500,
while writes on the primary go on; started again, reads come back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest

from bench.standby import NoClusterError, Pair, primary_and_standby
from smsledger.adapters.migrate import migrate
from tests.e2e.serving import serve
from tests.e2e.traffic import OPERATOR_TOKEN, open_sender, send_one, serve_env
from tests.support import url_of

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.e2e.traffic import Sender

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("private-postgres")]

POSITION = "X-Ledger-Position"
MIN_POSITION = "X-Ledger-Min-Position"


@pytest.fixture
def pair() -> Iterator[Pair]:
    try:
        with primary_and_standby() as made:
            migrate(made.primary.database())
            yield made
    except NoClusterError as e:
        pytest.skip(str(e))


def _send(url: str, sender: Sender, n: int) -> tuple[str, str]:
    """One send: its message id and the position the write answered."""
    r = httpx.post(
        f"{url}/v1/messages",
        json={"sender": "Acme", "recipients": [f"+4670{n:07d}"], "body": f"hi {n}"},
        headers=sender.headers,
        timeout=30,
    )
    assert r.status_code == 202, r.text
    return r.json()["messages"][0]["id"], r.headers[POSITION]


def _read(url: str, sender: Sender, message_id: str, position: str | None) -> httpx.Response:
    headers = dict(sender.headers)
    if position is not None:
        headers[MIN_POSITION] = position
    return httpx.get(f"{url}/v1/messages/{message_id}", headers=headers, timeout=30)


def test_reads_through_a_hot_standby_are_current_or_503_never_stale_or_500(
    pair: Pair, tmp_path: Path
) -> None:
    env = serve_env(
        pair.primary.database(),
        SMSLEDGER_READ_DATABASE_URL=url_of(pair.standby.database()),
        SMSLEDGER_GATEWAY="none",  # the message stays at 103 Funded: nothing moves it
    )
    assert env["SMSLEDGER_OPERATOR_TOKEN"] == OPERATOR_TOKEN
    with serve(tmp_path, env) as served:
        sender = open_sender(served.url, balance=10_000)

        # Read-your-writes through the standby: written on the primary, read with the
        # write's position from the standby, current.
        first, position = _send(served.url, sender, 1)
        r = _read(served.url, sender, first, position)
        assert r.status_code == 200, r.text
        assert r.json()["status"]["code"] == 103
        assert pair.replayed()
        # From the standby too, another account's message is as unknown as a missing one.
        other = open_sender(served.url, balance=1, name="Other")
        r = _read(served.url, other, first, position)
        assert r.status_code == 404, r.text

        # The standby falls behind: a write it has not replayed is a 503 with
        # Retry-After for its position, after the bounded wait, not a 404 or old row.
        pair.standby.execute("SELECT pg_wal_replay_pause()")
        second, behind = _send(served.url, sender, 2)
        started = time.monotonic()
        r = _read(served.url, sender, second, behind)
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert 4.0 < time.monotonic() - started < 15.0
        # The primary's own views have it: the 503 came from the standby's positions.
        assert int(behind) > int(position)
        # A list read with that position: the same promise.
        r = httpx.get(
            f"{served.url}/v1/messages?limit=5",
            headers={**sender.headers, MIN_POSITION: behind},
            timeout=30,
        )
        assert r.status_code == 503, r.text
        # Replay resumes: the same read is current.
        pair.standby.execute("SELECT pg_wal_replay_resume()")
        r = _read(served.url, sender, second, behind)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == second

        # The standby goes away: reads are 503 with Retry-After, never 500; writes on
        # the primary go on.
        pair.standby.stop("immediate")
        for message_id, pos in ((first, position), (second, None)):
            r = _read(served.url, sender, message_id, pos)
            assert r.status_code == 503, r.text
            assert "Retry-After" in r.headers
        r = httpx.get(f"{served.url}/v1/messages?limit=1", headers=sender.headers, timeout=30)
        assert r.status_code == 503, r.text
        third = send_one(served.url, sender, 3)
        assert third.status == 202, third.body

        # Back again: the pool reconnects and the standby catches up by itself.
        pair.standby.start()
        deadline = time.monotonic() + 20
        status = 0
        while time.monotonic() < deadline and status != 200:
            status = _read(served.url, sender, second, behind).status_code
            time.sleep(0.2)
        assert status == 200
