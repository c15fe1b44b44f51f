"""Status callbacks: how many a worker delivers per second to a local receiver, and the
delay from a delivery report's ingest to its callback arriving (median, p99).

    .venv/bin/python -m bench.webhooks [--messages 1000] [--backend postgres|sqlite]

Throughput: the outbox is filled first (every status change of ``--messages`` messages),
then one worker drains it into a receiver on loopback that answers 204 at once, for a
few per-endpoint concurrency limits. Delay: the service's own workers run in threads
(projections, callbacks) on the wall clock; reports are ingested in small batches, and
each callback's arrival is compared with the moment its report's write returned.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from bench.common import scratch_database, swedish_numbers
from smsledger.application.ledger import utc_now
from smsledger.bootstrap import build, webhook_worker
from smsledger.settings import Settings

if TYPE_CHECKING:
    from uuid import UUID

    from smsledger.bootstrap import Services


class _Sink:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.arrived: dict[tuple[str, int], float] = {}  # (message, status) -> monotonic


def _receiver(sink: _Sink) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            at = time.monotonic()
            with sink.lock:
                sink.count += 1
                sink.arrived.setdefault((body["id"], body["status"]["code"]), at)
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the default 5 refuses connections past a few in flight

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def _services(db: Any, **settings: Any) -> Services:
    return build(
        Settings(
            operator_token="bench-operator-token-0123456789",
            gateway="none",
            workers="none",
            webhook_allow_loopback=True,
            **settings,
        ),
        database=db,
    )


def _account(services: Services, url: str) -> UUID:
    account = services.ledger.open_account("Bench").value
    services.ledger.top_up(account.id, 10**11, "bench")
    services.ledger.configure_webhook(account.id, url, ["message.status"])
    return account.id


def throughput(kind: str, messages: int, concurrency: int) -> dict[str, float]:
    with scratch_database(kind) as db:
        services = _services(db, webhook_concurrency=concurrency)
        sink = _Sink()
        server, url = _receiver(sink)
        try:
            account_id = _account(services, url)
            ids: list[str] = []
            for start in range(0, messages, 1000):
                n = min(1000, messages - start)
                receipt = services.ledger.send_batch(
                    account_id, sender="Bench", recipients=swedish_numbers(n, start), body="hi"
                )
                ids += [line["id"] for line in receipt.lines]
            reports = [
                {"message_id": mid, "status_code": 201, "at": utc_now().isoformat()} for mid in ids
            ]
            for start in range(0, len(reports), 5000):
                services.ledger.record_delivery_reports(reports[start : start + 5000])
            services.runner.run_once()
            with services.views.reading() as cur:
                cur.execute("SELECT COUNT(*) FROM webhook_outbox")
                (rows,) = cur.fetchone()
            worker = webhook_worker(services, follow=False)
            worker.batch_size = max(worker.batch_size, concurrency)
            started = time.perf_counter()
            delivered = worker.run_until_idle(max_rounds=100_000)
            seconds = time.perf_counter() - started
            assert delivered == rows == sink.count, (delivered, rows, sink.count)
            return {"callbacks": delivered, "seconds": seconds, "per_second": delivered / seconds}
        finally:
            server.shutdown()
            services.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def delay(kind: str, messages: int, per_batch: int = 10, gap: float = 0.1) -> dict[str, float]:
    """Reports at ``per_batch / gap`` a second (100/s: under the worker's throughput, so
    the delay is the pipeline's, not a queue's), 16 callbacks in flight."""
    with scratch_database(kind) as db:
        services = _services(db, webhook_concurrency=16)
        sink = _Sink()
        server, url = _receiver(sink)
        stop = threading.Event()
        threads = []
        try:
            account_id = _account(services, url)
            receipt = services.ledger.send_batch(
                account_id, sender="Bench", recipients=swedish_numbers(messages), body="hi"
            )
            ids = [line["id"] for line in receipt.lines]
            worker = webhook_worker(services, follow=False)
            worker.lease = timedelta(seconds=30)
            for loop in (services.runner.run_forever, worker.run_forever):
                t = threading.Thread(target=loop, args=(stop,), daemon=True)
                t.start()
                threads.append(t)
            _wait(lambda: sink.count >= messages, 60)  # every Funded is out: a quiet start
            ingested: dict[str, float] = {}
            for start in range(0, len(ids), per_batch):
                chunk = ids[start : start + per_batch]
                services.ledger.record_delivery_reports(
                    [
                        {"message_id": m, "status_code": 201, "at": utc_now().isoformat()}
                        for m in chunk
                    ]
                )
                now = time.monotonic()
                ingested.update(dict.fromkeys(chunk, now))
                time.sleep(gap)
            _wait(lambda: all((m, 201) in sink.arrived for m in ids), 60)
            delays = [(sink.arrived[(m, 201)] - ingested[m]) * 1000 for m in ids]
            return {
                "callbacks": len(delays),
                "median_ms": statistics.median(delays),
                "p99_ms": _percentile(delays, 0.99),
                "max_ms": max(delays),
                "reports_per_second": per_batch / gap,
            }
        finally:
            stop.set()
            for t in threads:
                t.join(10)
            server.shutdown()
            services.close()


def _wait(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            msg = "timed out"
            raise TimeoutError(msg)
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"backend": args.backend, "messages": args.messages}
    for concurrency in (4, 16):
        out[f"throughput_c{concurrency}"] = throughput(args.backend, args.messages, concurrency)
        print(json.dumps(out[f"throughput_c{concurrency}"]), flush=True)
    out["report_to_callback"] = delay(args.backend, min(args.messages, 500))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
