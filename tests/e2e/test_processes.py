"""Many processes on one database: ``serve --workers N``, and each background worker
command safe to run twice at once (``smsledger.adapters.locks``: leases).

A worker command started beside a running one waits for its lease; killed with -9,
the holder's lease goes with it and the waiter takes over within a few seconds, and
goes on with the work (the views follow events written after the kill).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest

from smsledger.bootstrap import build
from smsledger.settings import Settings
from tests.e2e.serving import SMSLEDGER, clean_env, serve
from tests.e2e.traffic import charged, in_parallel, open_sender, send_one, serve_env, stored

if TYPE_CHECKING:
    from collections.abc import Iterator

    from smsledger.adapters.storage import Database

pytestmark = pytest.mark.slow  # real processes, kill -9, waits of seconds

PRICE = 45
TAKEN = "worker lease {} taken"


@dataclass
class Running:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def wait_to_say(self, text: str, timeout: float) -> float | None:
        """Seconds until ``text`` appeared in its log; ``None`` if it did not in time."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.said(text):
                return time.monotonic() - started
            time.sleep(0.05)
        return None


@contextlib.contextmanager
def command(cwd: Path, env: dict[str, str], *args: str) -> Iterator[Running]:
    process = subprocess.Popen(
        [SMSLEDGER, *args],
        cwd=cwd,
        env={**env, "SMSLEDGER_LOG_LEVEL": "INFO"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Running(process)

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            running.lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.parametrize(
    ("args", "lease"),
    [
        (("project",), "projections"),
        (("dispatch",), "dispatcher"),
        (("deliver-webhooks",), "webhooks"),
    ],
)
def test_a_second_worker_waits_and_takes_over_when_the_first_is_killed(
    database: Database, tmp_path: Path, args: tuple[str, ...], lease: str
) -> None:
    env = serve_env(database)
    taken = TAKEN.format(lease)
    with command(tmp_path, env, *args) as first:
        assert first.wait_to_say(taken, 20) is not None, "".join(first.lines)
        with command(tmp_path, env, *args) as second:
            # The second is up and waiting: it never takes the lease while the first holds it.
            time.sleep(3)
            assert second.process.poll() is None, "".join(second.lines)
            assert not second.said(taken), "".join(second.lines)
            # kill -9: no goodbye, the lease goes with the process.
            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait(5)
            took = second.wait_to_say(taken, 10)
            assert took is not None, "".join(second.lines)
            assert took < 5.0
            if lease == "projections":
                _check_follows_the_log(database)


def _check_follows_the_log(database: Database) -> None:
    """Events written after the takeover reach the views: the second one is working."""
    services = build(Settings(gateway="none", workers="none"), database=database)
    try:
        services.ledger.open_account("Written after the kill")
        head = services.runner.head()
        assert services.runner.wait(head, timeout=10), services.runner.positions()
    finally:
        services.close()


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _api_processes(pid: int) -> list[int]:
    """The supervisor's children that serve HTTP (not multiprocessing's resource tracker)."""
    return [
        child
        for child in _children(pid)
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def _tcp_ports(pids: list[int]) -> set[int]:
    """The local TCP ports of the sockets that the processes ``pids`` hold open."""
    inodes: set[str] = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _sessions(database: Database, ports: set[int]) -> dict[str, int]:
    """The worker sessions (by application name) whose client ends are ``ports``."""
    with psycopg.connect(database.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE application_name LIKE 'smsledger-%%' "
            "AND application_name <> 'smsledger-turns' AND client_port = ANY(%s) "
            "GROUP BY application_name",
            (sorted(ports),),
        ).fetchall()
    return {str(name): int(count) for name, count in rows}


def test_serve_with_two_processes_answers_sixty_concurrent_sends_to_one_account(
    database: Database, tmp_path: Path
) -> None:
    with serve(tmp_path, serve_env(database), args=["--workers", "2"]) as served:
        assert len(_api_processes(served.process.pid)) == 2
        sender = open_sender(served.url, balance=40 * PRICE)
        answers = in_parallel(
            [partial(send_one, served.url, sender, n) for n in range(60)], threads=60
        )
        statuses = [a.status for a in answers]
        assert statuses == [202] * 60, [(a.status, a.body) for a in answers if a.status != 202]
        funded = charged(answers)
        assert len(funded) == 40
        # Read-your-writes whichever process answers: the position of a write, read back.
        last = answers[-1]
        position = httpx.post(
            f"{served.url}/v1/messages",
            json={"sender": "Acme", "recipients": ["+46709999999"], "body": "last"},
            headers=sender.headers,
        ).headers["X-Ledger-Position"]
        for _ in range(4):
            r = httpx.get(
                f"{served.url}/v1/messages/{last.body['messages'][0]['id']}",
                headers={**sender.headers, "X-Ledger-Min-Position": position},
            )
            assert r.status_code == 200, r.text
        in_store = stored(database, sender.account_id)
        assert in_store.charges == funded
        assert all(n == 1 for n in in_store.times_charged.values())
        assert in_store.balance == 0
        if database.is_postgres:
            # The background workers run once, in the supervisor: one lease session each,
            # and none in the API processes. Other tests' servers share the cluster, so
            # only this server's own sessions count (by their client ports).
            supervisor = served.process.pid
            mine = _sessions(database, _tcp_ports([supervisor]))
            theirs = _sessions(database, _tcp_ports(_api_processes(supervisor)))
            assert mine == {
                f"smsledger-{name}": 1
                for name in ("projections", "dispatcher", "sweeper", "mailer", "webhooks")
            }
            assert theirs == {}
        # And they work: the carrier's reports come back through the dispatcher.
        message_id = answers[0].body["messages"][0]["id"]
        deadline = time.monotonic() + 20
        code = 0
        while time.monotonic() < deadline and code < 200:
            r = httpx.get(f"{served.url}/v1/messages/{message_id}", headers=sender.headers)
            code = r.json()["status"]["code"] if r.status_code == 200 else 0
            time.sleep(0.2)
        assert code >= 200


def test_serve_with_two_processes_prints_the_operator_token_once(tmp_path: Path) -> None:
    # The embedded default, a fresh directory: migrated and given a token by the
    # supervisor alone, before the API processes start.
    env = clean_env(SMSLEDGER_LOG_LEVEL="WARNING", SMSLEDGER_SIMULATOR_MIX="delivered=1")
    with serve(tmp_path, env, args=["--workers", "2"]) as served:
        time.sleep(1)
        token = served.printed_token
        assert token is not None
        printed = [line for line in served.stdout if "sk_operator_" in line]
        assert len(printed) == 2  # the token line and its `export` line, once each
        # Either process takes the token (four requests, both processes answer some).
        for n in range(4):
            r = httpx.post(
                f"{served.url}/v1/accounts",
                json={"name": f"Acme {n}", "payment_model": "balance", "currency": "SEK"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text


def _alive(pid: int) -> bool:
    """Running (a zombie, or a pid gone, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_api_processes_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    # kill -9 cannot let the supervisor stop its children: each notices it is orphaned
    # and stops itself, so nothing keeps serving the port unsupervised.
    env = clean_env(SMSLEDGER_LOG_LEVEL="WARNING")
    with serve(tmp_path, env, args=["--workers", "2"]) as served:
        api = _api_processes(served.process.pid)
        assert len(api) == 2
        assert httpx.get(f"{served.url}/healthz").status_code == 200
        served.process.kill()
        served.process.wait(10)
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in api):
            assert time.monotonic() < deadline, [p for p in api if _alive(p)]
            time.sleep(0.1)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{served.url}/healthz", timeout=2)
