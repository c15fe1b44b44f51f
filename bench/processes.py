"""Workloads: throughput of 1, 2 and 4 API processes, and reads from a hot standby.

``processes: read`` and ``processes: send``: a real ``smsledger serve --workers N``
(API only: ``SMSLEDGER_WORKERS=none``, no gateway) on PostgreSQL, for N = 1, 2, 4, one
after the other on the same seeded database; ``wrk`` (one thread, 32 connections,
bounded in time) drives ``GET /v1/messages/{id}`` with a support key (random ids of the
seeded messages), then single-recipient ``POST /v1/messages`` spread over 16 accounts
(post-invoicing: no balance runs out). The 1-process figure is the baseline
(``smsledger``). ``wrk`` is pinned to the last CPU with ``taskset`` when there is more
than one; the server processes and PostgreSQL share every CPU, the last one included.

``replica_read``: the same read through one ``serve`` on a private primary, then with
``SMSLEDGER_READ_DATABASE_URL`` on a ``pg_basebackup -R`` hot standby of it
(``bench/standby.py``), latency and throughput side by side.

Run: ``python -m bench.processes [--quick]``; needs ``wrk``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.api_read import CONNECTIONS, database_url, free_port, seed
from bench.common import Result, scratch_database

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from smsledger.adapters.storage import Database

OPERATOR = "bench-operator-token-0123456789"
SMSLEDGER = str(Path(sys.executable).with_name("smsledger"))
ACCOUNTS = 16

_SCRIPT = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local keys = {}
for line in io.lines("%(keys)s") do keys[#keys + 1] = line end
local mode = "%(mode)s"
math.randomseed(42)
request = function()
  local key = keys[math.random(#keys)]
  if mode == "read" then
    return wrk.format("GET", "/v1/messages/" .. ids[math.random(#ids)],
      {["Authorization"] = "Bearer " .. key})
  end
  local body = string.format(
    '{"sender": "Bench", "recipients": ["+4670%%07d"], "body": "Hello from wrk"}',
    math.random(0, 9999999))
  return wrk.format("POST", "/v1/messages",
    {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status))
end
"""


@contextlib.contextmanager
def serving(url: str, workers: int, read_url: str | None = None) -> Iterator[str]:
    """``smsledger serve --workers N``, API only, until it answers /healthz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}
    env |= {
        "SMSLEDGER_DATABASE_URL": url,
        "SMSLEDGER_OPERATOR_TOKEN": OPERATOR,
        "SMSLEDGER_WORKERS": "none",
        "SMSLEDGER_GATEWAY": "none",
        "SMSLEDGER_LOG_LEVEL": "WARNING",
    }
    if read_url is not None:
        env["SMSLEDGER_READ_DATABASE_URL"] = read_url
    process = subprocess.Popen(
        [SMSLEDGER, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                msg = f"serve --workers {workers} did not start"
                raise RuntimeError(msg)
            time.sleep(0.2)
        time.sleep(1.0 if workers > 1 else 0.0)  # every API process up, not just the first
        yield base
    finally:
        process.terminate()
        process.wait(30)


def senders(base: str, n: int) -> list[str]:
    """``n`` post-invoicing accounts, a sender key each."""
    operator = {"Authorization": f"Bearer {OPERATOR}"}
    keys = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(n):
            account = http.post(
                "/v1/accounts",
                json={"name": f"Bench {i}", "payment_model": "post_invoice"},
                headers=operator,
            ).json()
            admin = {"Authorization": f"Bearer {account['admin_key']}"}
            r = http.post(
                f"/v1/accounts/{account['id']}/keys", json={"role": "sender"}, headers=admin
            )
            keys.append(r.json()["key"])
    return keys


def wrk(base: str, mode: str, ids_file: str, keys_file: str, seconds: int) -> dict[str, float]:
    """One bounded ``wrk`` run after a short warm-up; ``wrk`` pinned to the last CPU."""
    import json

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_SCRIPT % {"ids": ids_file, "keys": keys_file, "mode": mode})
        script = f.name
    cpus = os.cpu_count() or 1
    pin = ["taskset", "-c", str(cpus - 1)] if cpus > 1 and shutil.which("taskset") else []
    for duration in (max(1, seconds // 5), seconds):
        load = ["-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "10s", "-s", script]
        out = subprocess.run(
            [*pin, "wrk", *load, base],
            check=True,
            capture_output=True,
            text=True,
            timeout=duration + 60,
        ).stdout
    Path(script).unlink()
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    raw = json.loads(line[len("RESULT ") :])
    return {
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "req_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        # Socket errors, timeouts (10 s) and non-2xx answers: reported, not hidden.
        "errors": raw["errors"],
    }


def _result(workload: str, variant: str, m: dict[str, float], **extra: int | str) -> Result:
    return Result(
        workload=workload,
        variant=variant,
        unit="req/s",
        samples=[m["req_per_s"]],
        extra={"connections": CONNECTIONS, **extra, **{k: round(v, 3) for k, v in m.items()}},
    )


def _files(tmp: str, ids: Sequence[str], keys: Sequence[str]) -> tuple[str, str]:
    ids_file, keys_file = str(Path(tmp) / "ids.txt"), str(Path(tmp) / "keys.txt")
    Path(ids_file).write_text("\n".join(ids) + "\n")
    Path(keys_file).write_text("\n".join(keys) + "\n")
    return ids_file, keys_file


def run_processes(counts: Sequence[int], seconds: int, messages: int) -> list[Result]:
    results = []
    with scratch_database("postgres") as db, tempfile.TemporaryDirectory() as tmp:
        ids, support = seed(db, messages)
        url = database_url(db)
        with serving(url, 1) as base:
            keys = senders(base, ACCOUNTS)
        ids_file, support_file = _files(tmp, ids, [support])
        _, keys_file = _files(tempfile.mkdtemp(dir=tmp), ids, keys)
        for n in counts:
            variant = "smsledger" if n == 1 else f"smsledger, {n} API processes"
            with serving(url, n) as base:
                read = wrk(base, "read", ids_file, support_file, seconds)
                results.append(_result("processes: read", variant, read, processes=n))
                send = wrk(base, "send", ids_file, keys_file, seconds)
                results.append(_result("processes: send", variant, send, processes=n))
    return results


def run_replica(seconds: int, messages: int) -> list[Result]:
    from bench.standby import primary_and_standby
    from smsledger.adapters.migrate import migrate

    results = []
    with primary_and_standby() as pair, tempfile.TemporaryDirectory() as tmp:
        primary: Database = pair.primary.database()
        migrate(primary)
        ids, support = seed(primary, messages)
        deadline = time.monotonic() + 30
        while not pair.replayed() and time.monotonic() < deadline:
            time.sleep(0.1)
        ids_file, support_file = _files(tmp, ids, [support])
        url = database_url(primary)
        for variant, read_url in (
            ("smsledger", None),
            ("smsledger: from the hot standby", database_url(pair.standby.database())),
        ):
            with serving(url, 1, read_url) as base:
                m = wrk(base, "read", ids_file, support_file, seconds)
                results.append(_result("replica_read", variant, m))
    return results


def run(*, quick: bool = False) -> list[Result]:
    if shutil.which("wrk") is None:
        msg = "wrk is not installed (Debian: apt-get install -y wrk)"
        raise SystemExit(msg)
    seconds = 2 if quick else 10
    messages = 300 if quick else 2_000
    counts = (1, 2) if quick else (1, 2, 4)
    return run_processes(counts, seconds, messages) + run_replica(seconds, messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for r in run(quick=args.quick):
        e = r.extra
        print(
            f"{r.workload:16} {r.variant:34} p50 {e['p50_ms']:7.2f} ms  p99 {e['p99_ms']:7.2f} ms"
            f"  {e['req_per_s']:7.0f} req/s  ({int(e['requests'])} requests, "
            f"{int(e['errors'])} errors)"
        )


if __name__ == "__main__":
    main()
