"""Workload: the console's page time on a big account (issue 14), on PostgreSQL.

One account is grown through the real write path (``bench.scale.Store``: 10,000-recipient
batches), the first half on the prepaid balance and the second half post-invoiced, so the
month's invoice counts half a million messages on one line; its read models are caught up
and analysed. Then a real ``smsledger serve`` (workers off: nothing moves underneath)
answers the console's pages to a logged-in support and finance session, one request at a
time, and the server time of each page is read from the service's own access log (the
``duration_ms`` its middleware measures around the whole app): median and p99.

Pages: a message's timeline (random ids of the whole account), the same with ``as_of``,
the month's invoice, an invoice line's messages (first page and pages further in by
cursor), the account page (balance, chart of the last 500 movements, ledger page).

Run: ``python -m bench.console [--messages 1000000] [--requests 300] [--budget 1800]``.
Growing stops when ``--budget`` seconds have gone by and the report says how big the
account got.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.api_read import database_url, free_port
from bench.common import scratch_database
from bench.scale import Store
from smsledger.domain.periods import period_of

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database

SMSLEDGER = str(Path(sys.executable).with_name("smsledger"))
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
OPERATOR_TOKEN = "op-bench-console-0123456789abcdef"


def grow(store: Store, size: int, deadline: float) -> None:
    """Half the messages on the balance, half on the invoice; stops at the deadline."""
    half = size // 2
    while store.stored < half and time.monotonic() < deadline:
        store.send(min(store.batch, half - store.stored))
    store.ledger.change_payment_model(store.account, "post_invoice")
    while store.stored < size and time.monotonic() < deadline:
        store.send(min(store.batch, size - store.stored))


def serve(db: Database, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}
    env.update(
        SMSLEDGER_DATABASE_URL=database_url(db),
        SMSLEDGER_OPERATOR_TOKEN=OPERATOR_TOKEN,
        SMSLEDGER_WORKERS="none",
        SMSLEDGER_GATEWAY="none",
        SMSLEDGER_LOG_LEVEL="INFO",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SMSLEDGER, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    msg = f"smsledger serve did not come up: {log.read_text()[-2000:]}"
    raise RuntimeError(msg)


def logged_in(url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    form = client.get("/console/login")
    token = CSRF.search(form.text)
    assert token is not None
    r = client.post("/console/login", data={"csrf": token.group(1), "key": key})
    assert r.status_code == 303, r.text
    return client


def server_times(log: Path, route: str, since: int) -> list[float]:
    """``duration_ms`` of the GETs of ``route`` logged after byte ``since``."""
    out = []
    with log.open("rb") as f:
        f.seek(since)
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("route") == route and entry.get("method") == "GET":
                assert entry.get("status") == 200, entry
                out.append(float(entry["duration_ms"]))
    return out


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def measure(log: Path, client: httpx.Client, route: str, urls: list[str]) -> dict[str, float | int]:
    since = log.stat().st_size
    client_ms = []
    for u in urls:
        t0 = time.perf_counter()
        r = client.get(u)
        client_ms.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (u, r.status_code, r.text[:300])
    time.sleep(0.5)  # the log lines are written after the answer
    server_ms = server_times(log, route, since)
    assert len(server_ms) == len(urls), (route, len(server_ms), len(urls))
    return {
        "requests": len(urls),
        "server_median_ms": round(statistics.median(server_ms), 2),
        "server_p99_ms": round(p99(server_ms), 2),
        "client_median_ms": round(statistics.median(client_ms), 2),
        "client_p99_ms": round(p99(client_ms), 2),
    }


def run(messages: int, requests: int, budget: float) -> dict[str, Any]:
    started = time.monotonic()
    with scratch_database("postgres") as db:
        store = Store(db, 10_000)
        try:
            grow(store, messages, started + budget)
            grown = time.monotonic() - started
            store.catch_up()
            store.analyze()
            ready = time.monotonic() - started
            ids = store.sample_ids(requests)
            period = period_of(datetime.now(UTC), "Europe/Stockholm")
            account = store.account
            with tempfile.TemporaryDirectory() as tmp:
                log = Path(tmp) / "serve.log"
                proc, url = serve(db, log)
                try:
                    support = logged_in(url, store.support)
                    finance = logged_in(url, store.finance)
                    invoice = f"/console/accounts/{account}/invoices/{period}"
                    page = finance.get(invoice).text
                    line = re.search(r'href="([^"]+/messages\?line=[^"]+)"', page)
                    assert line is not None, page
                    line_url = line.group(1).replace("&amp;", "&")
                    deep = [line_url]
                    for _ in range(20):  # pages further in, by the cursors the pages give
                        nxt = re.search(r'href="([^"]+)" rel="next"', finance.get(deep[-1]).text)
                        if nxt is None:
                            break
                        deep.append(nxt.group(1).replace("&amp;", "&"))
                    as_of = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    pages = {
                        "timeline": (
                            support,
                            "/console/messages/{message_id}",
                            [f"/console/messages/{i}" for i in ids],
                        ),
                        "timeline as of": (
                            support,
                            "/console/messages/{message_id}",
                            [f"/console/messages/{i}?as_of={as_of}" for i in ids],
                        ),
                        "invoice": (
                            finance,
                            "/console/accounts/{account_id}/invoices/{period}",
                            [invoice] * requests,
                        ),
                        "invoice line's messages": (
                            finance,
                            "/console/accounts/{account_id}/invoices/{period}/messages",
                            [deep[i % len(deep)] for i in range(requests)],
                        ),
                        "account (balance, chart, ledger)": (
                            finance,
                            "/console/accounts/{account_id}",
                            [f"/console/accounts/{account}"] * requests,
                        ),
                    }
                    results = {
                        name: measure(log, client, route, urls)
                        for name, (client, route, urls) in pages.items()
                    }
                finally:
                    proc.terminate()
                    proc.wait(15)
            return {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "messages": store.stored,
                "asked_for": messages,
                "grow_seconds": round(grown),
                "ready_seconds": round(ready),
                "event_table_mb": round(store.event_bytes() / 2**20, 1),
                "pages": results,
            }
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds to grow, at most")
    parser.add_argument("--out", type=Path, default=Path("bench/console.json"))
    args = parser.parse_args()
    report = run(args.messages, args.requests, args.budget)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
