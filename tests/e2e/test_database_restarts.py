"""PostgreSQL stopped and started again under load: 503 with Retry-After, never a 500.

Issue 11 measured 15-22 answers of 500 per run of five 5 s outages (mostly
``POST /v1/messages``, as the database went away and just after it was back). This runs
``smsledger serve`` against a PRIVATE cluster (``initdb`` into a temporary directory, a
port of 55441-55449: the shared server on 5432 is never touched), drives bounded
concurrent sends and reads, stops the cluster (``pg_ctl stop -m fast``) for 5 s and
starts it, five times (three on a machine too busy to fit five in the time budget), and
checks: no 500 and no dropped connection ever; every other non-2xx is 503 with
``Retry-After``; sends answer 202 again within seconds of each start; and nothing is
lost: each send is retried with its ``reference`` until it answers 202, and then the
charges equal the answers, and the audit passes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from smsledger.adapters.migrate import migrate
from smsledger.adapters.storage import Database
from tests.e2e.serving import clean_env, serve
from tests.support import url_of

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("private-postgres")]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORTS = range(55441, 55450)  # this suite's own range: never the shared 5432
OUTAGES = 5
AT_LEAST = 3  # on a busy machine, stop after this many once the budget is spent
OUTAGE_BUDGET = 50.0  # seconds for the outages, so the test stays near a minute and a half
OUTAGE_SECONDS = 5.0
SENDERS = 4
TOKEN = "restart-test-operator-token"
# Seconds from the database's start to a send's 202. Measured 2026-12-04 on an idle
# machine, this session's code and the code before it alike: up to 7.3-7.9 s (the
# connection pools' reconnect backoff after a 5 s outage), 8.8-9.1 under the suite's
# load, so 8 s failed two of three clean-clone CI runs. 12 s bounds a hang, not speed.
RECOVERED_WITHIN = 12.0


@dataclass
class Cluster:
    """A throwaway PostgreSQL 15 cluster of this test alone."""

    data: Path
    port: int
    run_as: list[str]

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.ctl("-w", "-l", str(self.data / "log"), "-o", options, "start")

    def stop(self) -> None:
        self.ctl("-w", "-m", "fast", "stop")

    def database(self) -> Database:
        return Database(
            kind="postgres", host="127.0.0.1", port=self.port, user="root", dbname="ledger"
        )


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    port = next((p for p in PORTS if _free(p)), None)
    if port is None:
        pytest.skip("no free port in 55441-55449 for a private cluster")
    root = Path(tempfile.mkdtemp(prefix="smsledger-restarts-"))
    # initdb refuses to run as root: the cluster then belongs to the postgres user.
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(root, "postgres")
    made = Cluster(root / "data", port, run_as)
    try:
        subprocess.run(
            [*run_as, str(PG_BIN / "initdb"), "-D", str(made.data), "-U", "root", "--auth=trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        made.start()
        with psycopg.connect(
            host="127.0.0.1", port=port, user="root", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE ledger")
        yield made
    finally:
        with contextlib.suppress(Exception):
            made.ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Answer:
    at: float
    method: str
    status: int  # 0: no HTTP answer at all (connection dropped or timed out)
    retry_after: str | None
    body: str


@dataclass
class Load:
    """Sender threads: each sends one message at a time with its own reference, reads
    it back with ``X-Ledger-Min-Position``, and retries a 503 with the same reference."""

    url: str
    key: str
    answers: list[Answer] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # reference -> 202 body
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, worker: int) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as http:
            n = 0
            reference: str | None = None
            while not self.stop.is_set() or reference is not None:
                if reference is None:
                    n += 1
                    reference = f"w{worker}-{n}"
                sent = self._call(
                    http,
                    "POST",
                    "/v1/messages",
                    json={
                        "sender": "Acme",
                        "recipients": [f"+4673{worker:02d}{n:05d}"],
                        "body": "restart",
                        "reference": reference,
                    },
                )
                if sent is None or sent.status_code != 202:
                    time.sleep(0.2)
                    continue
                with self._lock:
                    self.accepted[reference] = sent.json()
                reference = None
                message = sent.json()["messages"][0]["id"]
                position = sent.headers["X-Ledger-Position"]
                self._call(
                    http,
                    "GET",
                    f"/v1/messages/{message}",
                    headers={"X-Ledger-Min-Position": position},
                )

    def _call(self, http: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response | None:
        try:
            r = http.request(method, path, **kw)
        except httpx.TransportError as e:
            self._note(Answer(time.monotonic(), method, 0, None, repr(e)))
            return None
        self._note(
            Answer(time.monotonic(), method, r.status_code, r.headers.get("retry-after"), r.text)
        )
        return r

    def _note(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)


def test_database_restarts_under_load_answer_503_never_500_and_lose_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    db = cluster.database()
    migrate(db)
    env = clean_env(
        SMSLEDGER_DATABASE_URL=url_of(db),
        SMSLEDGER_OPERATOR_TOKEN=TOKEN,
        SMSLEDGER_GATEWAY="none",
    )
    operator = {"Authorization": f"Bearer {TOKEN}"}
    with serve(tmp_path, env) as served:
        opened = httpx.post(
            served.url + "/v1/accounts",
            json={"name": "Acme", "payment_model": "balance", "currency": "SEK"},
            headers=operator,
        )
        assert opened.status_code == 201, opened.text
        account = opened.json()
        topped = httpx.post(
            f"{served.url}/v1/accounts/{account['id']}/top-ups",
            json={"amount": 10**9, "reference": "funds"},
            headers=operator,
        )
        assert topped.status_code == 201, topped.text
        key = httpx.post(
            f"{served.url}/v1/accounts/{account['id']}/keys",
            json={"role": "sender"},
            headers={"Authorization": f"Bearer {account['admin_key']}"},
        ).json()["key"]

        load = Load(served.url, key)
        threads = [
            threading.Thread(target=load.run, args=(i,), daemon=True) for i in range(SENDERS)
        ]
        for t in threads:
            t.start()
        recoveries = []
        try:
            began = time.monotonic()
            for n in range(OUTAGES):
                if n >= AT_LEAST and time.monotonic() - began > OUTAGE_BUDGET:
                    break
                time.sleep(2.0)  # traffic on a healthy database
                cluster.stop()
                time.sleep(OUTAGE_SECONDS)
                cluster.start()
                back = time.monotonic()
                # Sends answer 202 again within seconds.
                deadline = back + 30
                while time.monotonic() < deadline and not any(
                    a.at > back and a.method == "POST" and a.status == 202
                    for a in list(load.answers)
                ):
                    time.sleep(0.05)
                recoveries.append(
                    min(
                        (a.at for a in list(load.answers) if a.at > back and a.status == 202),
                        default=float("inf"),
                    )
                    - back
                )
            time.sleep(1.0)
        finally:
            load.stop.set()
            for t in threads:
                t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a sender never got its 202"

        answers = load.answers
        by_status: dict[int, int] = {}
        for a in answers:
            by_status[a.status] = by_status.get(a.status, 0) + 1
        print(
            f"{len(recoveries)} outages; answers by status: {sorted(by_status.items())}; "
            f"202 again after (s): {[round(r, 2) for r in recoveries]}"
        )
        # Never a 500, never a dropped connection.
        assert by_status.get(500, 0) == 0, [a.body for a in answers if a.status == 500][:3]
        assert by_status.get(0, 0) == 0, [a.body for a in answers if a.status == 0][:3]
        # Every other non-2xx is a 503 problem with Retry-After.
        for a in answers:
            if a.status >= 300:
                assert a.status == 503, (a.method, a.status, a.body)
                assert a.retry_after is not None, a.body
                assert '"status":503' in a.body
        assert by_status.get(503, 0) > 0, "the outages should have been noticed"
        assert max(recoveries) < RECOVERED_WITHIN, recoveries

        # Nothing lost: every reference answered 202 once its retries got through, and
        # the account was charged for exactly those messages.
        charged = sum(body["total_price"] for body in load.accepted.values())
        assert charged > 0
        balance = httpx.get(
            f"{served.url}/v1/accounts/{account['id']}",
            headers={**operator, "X-Ledger-Min-Position": str(max_position(db))},
        )
        assert balance.status_code == 200, balance.text
        assert balance.json()["balance"] == 10**9 - charged
        for body in load.accepted.values():
            message = body["messages"][0]["id"]
            read = httpx.get(f"{served.url}/v1/messages/{message}", headers=operator)
            assert read.status_code == 200, read.text

    period = datetime.now(ZoneInfo("Europe/Stockholm")).strftime("%Y-%m")  # the account's
    audit = subprocess.run(
        [sys.executable, "-m", "smsledger", "audit", "--period", period],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


def max_position(db: Database) -> int:
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT max(notification_id) FROM ledger_events").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
