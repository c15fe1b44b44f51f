"""Workload: the resident memory of ``smsledger serve`` after 1,000,000 messages.

A real ``smsledger serve`` process (the HTTP API with the projections, the dispatcher and
the sweeper in the same process, as a newcomer runs it) on a fresh PostgreSQL schema is
sent 1,000,000 messages over HTTP, 10,000 recipients a request, and left to project them
all. Its RSS is read from ``/proc/PID/status``: after start, after every 100,000
messages, and once the read models have caught up (``/healthz`` lag 0), with the peak
(``VmHWM``). The baseline is the same process at rest before the first message.

``--gateway none`` (the default here) leaves messages at Funded, so the run is bounded by
the send and projection rates; ``--gateway simulator`` also hands every message to the
carrier simulator and ingests its reports (much longer). Run:
``python -m bench.serve_rss [--messages N] [--gateway none|simulator] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.api_read import database_url, free_port
from bench.common import Result, scratch_database, swedish_numbers

TOKEN = "bench-operator-token-0123456789"
PER_REQUEST = 10_000


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of ``pid`` in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _wait_ready(client: httpx.Client, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"smsledger serve exited with {proc.returncode}"
            raise RuntimeError(msg)
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    msg = "smsledger serve did not start"
    raise RuntimeError(msg)


def _caught_up(client: httpx.Client, timeout: float) -> float:
    """Wait until every projection's lag is 0; returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        projections = client.get("/healthz").json()["projections"]
        if projections and all(p["lag"] == 0 for p in projections.values()):
            return time.monotonic() - start
        time.sleep(0.5)
    msg = f"projections did not catch up within {timeout:.0f} s"
    raise RuntimeError(msg)


def run(messages: int = 1_000_000, *, gateway: str = "none", quick: bool = False) -> list[Result]:
    if quick:
        messages = min(messages, 20_000)
    per_request = min(PER_REQUEST, messages)
    with scratch_database("postgres") as db:
        port = free_port()
        env = {
            **os.environ,
            "SMSLEDGER_DATABASE_URL": database_url(db),
            "SMSLEDGER_OPERATOR_TOKEN": TOKEN,
            "SMSLEDGER_GATEWAY": gateway,
            "SMSLEDGER_WORKERS": "inprocess",
            "SMSLEDGER_LOG_LEVEL": "WARNING",
        }
        command = [str(Path(sys.executable).parent / "smsledger"), "serve", "--port", str(port)]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
                _wait_ready(client, proc)
                operator = {"Authorization": f"Bearer {TOKEN}"}
                account = client.post(
                    "/v1/accounts",
                    json={"name": "RSS", "payment_model": "post_invoice"},
                    headers=operator,
                ).json()
                sender = client.post(
                    f"/v1/accounts/{account['id']}/keys",
                    json={"role": "sender"},
                    headers={"Authorization": f"Bearer {account['admin_key']}"},
                ).json()["key"]
                at_rest, _ = rss_mb(proc.pid)
                trace: list[tuple[int, float]] = [(0, at_rest)]
                start = time.perf_counter()
                for sent in range(0, messages, per_request):
                    n = min(per_request, messages - sent)
                    r = client.post(
                        "/v1/messages",
                        json={
                            "sender": "RSS",
                            "recipients": swedish_numbers(n, offset=sent),
                            "body": "Memory check",
                        },
                        headers={"Authorization": f"Bearer {sender}"},
                    )
                    assert r.status_code == 202, r.text
                    if (sent + n) % max(messages // 10, 1) == 0:
                        trace.append((sent + n, rss_mb(proc.pid)[0]))
                send_seconds = time.perf_counter() - start
                waited = _caught_up(client, timeout=max(600.0, messages / 1_000))
                after, peak = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    extra: dict[str, float | int | str] = {
        "messages": messages,
        "gateway": gateway,
        "rss_at_rest_mb": round(at_rest, 1),
        "rss_after_mb": round(after, 1),
        "rss_peak_mb": round(peak, 1),
        "send_messages_per_s": round(messages / send_seconds),
        "catch_up_wait_s": round(waited, 1),
        "trace": ", ".join(f"{n:,}: {mb:.0f}" for n, mb in trace),
    }
    return [
        Result("serve_rss", "smsledger", "MiB RSS", [after], extra=extra),
        Result("serve_rss", "baseline: the same process at rest", "MiB RSS", [at_rest]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--gateway", choices=["none", "simulator"], default="none")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    ours, _ = run(args.messages, gateway=args.gateway, quick=args.quick)
    for key, value in ours.extra.items():
        print(f"{key:22} {value}")


if __name__ == "__main__":
    main()
