"""Workloads: ``GET /v1/messages/{id}`` and its history at 32 concurrent connections.

Every variant runs as a real server (uvicorn, one process each, the same command and
settings) on loopback, one after the other in the same run; ``wrk`` (one thread, 32
connections, random ids from the seeded messages, bounded in time) generates the load.

Message read (``api_read``):

- limit: a bare FastAPI app whose one endpoint reads one row by primary key (the same
  message's JSON, stored in a plain table of the same database) and answers it with
  orjson: no auth, no middleware, no read model. It is also what a user might build
  instead (a status row read by id);
- naive-es: the eventsourcing library the obvious way: the ``Message`` aggregate is
  replayed from the event store on every request (``repository.get``) and rendered;
  no auth either;
- smsledger: the real API (auth by key hash, the message read model, problem errors,
  metrics middleware) built by ``smsledger.bootstrap``.

History read (``history_read``, support's "what happened, and when?"):

- limit: the bare app answering the message's raw stored event rows (one indexed
  range read of the event table, the bytes joined into a JSON array, no decoding);
- smsledger: ``GET /v1/messages/{id}/history`` (auth, decode, status per event).

Run: ``python -m bench.api_read [--quick] [--backend postgres|sqlite]``; needs ``wrk``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import Result, scratch_database, swedish_numbers

if TYPE_CHECKING:
    from collections.abc import Iterator

    from smsledger.adapters.storage import Database

CONNECTIONS = 32
MESSAGES = 2_000
BARE_TABLE = "bench_message_rows"

_WRK_SCRIPT = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local prefix = "%(prefix)s"
local suffix = "%(suffix)s"
local auth = "%(auth)s"
math.randomseed(42)
request = function()
  local headers = {}
  if auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("GET", prefix .. ids[math.random(#ids)] .. suffix, headers)
end
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "socket_errors": %%d, "non_2xx": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, summary.errors.status))
end
"""


def database_url(db: Database) -> str:
    if db.kind == "sqlite":
        return f"sqlite:///{db.path}"
    auth = db.user + (f":{db.password}" if db.password else "")
    return f"postgresql://{auth}@{db.host}:{db.port}/{db.dbname}?schema={db.schema}"


# --- the servers (each runs in its own process) ----------------------------------------------


def smsledger_app() -> Any:
    from smsledger.api.main import create_app
    from smsledger.bootstrap import build
    from smsledger.settings import Settings

    return create_app(build(Settings(workers="none", gateway="none")))


def bare_app() -> Any:
    """FastAPI + orjson, one row by primary key: the floor for any read endpoint."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    from smsledger.adapters.storage import Database
    from smsledger.adapters.views import open_views
    from smsledger.settings import Settings

    db = Database.from_url(Settings().database_url)
    views = open_views(db)
    ph = "%s" if db.is_postgres else "?"
    events_table = "ledger_events" if db.is_postgres else "stored_events"
    app = FastAPI()

    @app.get("/rows/{row_id}")
    def read_row(row_id: str) -> Response:
        with views.reading() as cur:
            cur.execute(f"SELECT body FROM {BARE_TABLE} WHERE id = {ph}", (row_id,))
            row = cur.fetchone()
        if row is None:
            return Response(status_code=404)
        return Response(bytes(row[0]), media_type="application/json")

    @app.get("/events/{row_id}")
    def read_events(row_id: str) -> Response:
        key = row_id if db.is_postgres else row_id.replace("-", "")
        with views.reading() as cur:
            cur.execute(
                f"SELECT state FROM {events_table} WHERE originator_id = {ph} "
                "ORDER BY originator_version",
                (key,),
            )
            rows = cur.fetchall()
        if not rows:
            return Response(status_code=404)
        body = b"[" + b",".join(bytes(r[0]) for r in rows) + b"]"
        return Response(body, media_type="application/json")

    return app


def naive_app() -> Any:
    """The library the obvious way: replay the aggregate from its events per request."""
    from uuid import UUID

    import orjson
    from fastapi import FastAPI
    from fastapi.responses import Response

    from smsledger.adapters.storage import Database
    from smsledger.application.ledger import Ledger
    from smsledger.domain.status import STATUS_CODES
    from smsledger.settings import Settings

    ledger = Ledger(Database.from_url(Settings().database_url).eventsourcing_env())
    app = FastAPI()

    @app.get("/messages/{message_id}")
    def read_message(message_id: str) -> Response:
        m = ledger.get_message(UUID(message_id))
        s = STATUS_CODES[m.status]
        body = {
            "id": m.id,
            "batch_id": m.batch_id,
            "account_id": m.account_id,
            "sender": m.sender,
            "recipient": m.recipient,
            "segments": m.segments,
            "encoding": m.encoding,
            "price": m.price if m.charged else 0,
            "currency": m.currency,
            "status": s.as_dict(),
            "legacy_status": s.legacy,
            "final": s.final,
            "charged_to": m.charged_to,
            "refunded": m.refunded,
            "created_at": m.created_on,
            "updated_at": m.modified_on,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    return app


# --- setup ----------------------------------------------------------------------------------


def seed(db: Database, n: int) -> tuple[list[str], str]:
    """``n`` messages through the real API code path, their read model caught up, and the
    same JSON in a plain table for the bare app. Returns the ids and a support key."""
    import orjson
    from fastapi.testclient import TestClient

    from smsledger.api.main import create_app
    from smsledger.bootstrap import build
    from smsledger.settings import Settings

    services = build(Settings(operator_token="bench-operator-token-0123456789"), database=db)
    operator = {"Authorization": "Bearer bench-operator-token-0123456789"}
    ids: list[str] = []
    with TestClient(create_app(services)) as client:
        account = client.post(
            "/v1/accounts",
            json={"name": "Bench", "payment_model": "post_invoice"},
            headers=operator,
        ).json()
        admin = {"Authorization": f"Bearer {account['admin_key']}"}
        support = client.post(
            f"/v1/accounts/{account['id']}/keys", json={"role": "support"}, headers=admin
        ).json()["key"]
        sender = client.post(
            f"/v1/accounts/{account['id']}/keys", json={"role": "sender"}, headers=admin
        ).json()["key"]
        for start in range(0, n, 1_000):
            batch = client.post(
                "/v1/messages",
                json={
                    "sender": "Bench",
                    "recipients": swedish_numbers(min(1_000, n - start), offset=start),
                    "body": "Hello from the benchmark",
                },
                headers={"Authorization": f"Bearer {sender}"},
            ).json()
            ids.extend(m["id"] for m in batch["messages"])
        if services.runner.projections:
            services.runner.run_once()
        bodies = []
        for message_id in ids:
            r = client.get(
                f"/v1/messages/{message_id}", headers={"Authorization": f"Bearer {support}"}
            )
            assert r.status_code == 200, r.text
            bodies.append((message_id, orjson.dumps(r.json())))
    ph = "%s" if db.is_postgres else "?"
    kind = "bytea" if db.is_postgres else "BLOB"
    key = "uuid" if db.is_postgres else "TEXT"
    with services.views.transaction() as cur:
        cur.execute(f"CREATE TABLE {BARE_TABLE} (id {key} PRIMARY KEY, body {kind} NOT NULL)")
        cur.executemany(f"INSERT INTO {BARE_TABLE} (id, body) VALUES ({ph}, {ph})", bodies)
    services.close()
    return ids, support


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(kind: str, url: str, port: int) -> Iterator[str]:
    """A uvicorn process serving ``kind`` on loopback; same settings for every kind."""
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": url, "SMSLEDGER_LOG_LEVEL": "WARNING"}
    env.pop("SMSLEDGER_OPERATOR_TOKEN", None)
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"bench.api_read:{kind}_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=Path(__file__).resolve().parent.parent)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                msg = f"{kind} server did not start"
                raise RuntimeError(msg)
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def wrk(
    base: str,
    prefix: str,
    ids_file: str,
    auth: str,
    seconds: int,
    connections: int,
    *,
    suffix: str = "",
) -> dict[str, float]:
    """One bounded ``wrk`` run (after a short warm-up) of GET prefix+id+suffix."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_WRK_SCRIPT % {"ids": ids_file, "prefix": prefix, "suffix": suffix, "auth": auth})
        script = f.name
    # Warm-up (connections, caches, the thread pool), then the measured run.
    for duration in (max(1, seconds // 5), seconds):
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", script, base],
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
        "max_ms": raw["max_us"] / 1000,
        "req_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "errors": raw["socket_errors"] + raw["non_2xx"],
    }


# (workload, variant, server kind, path prefix, path suffix, needs the support key)
VARIANTS = (
    ("api_read", "limit: bare endpoint, row by id", "bare", "/rows/", "", False),
    ("api_read", "naive-es: replay per request", "naive", "/messages/", "", False),
    ("api_read", "smsledger", "smsledger", "/v1/messages/", "", True),
    ("history_read", "limit: bare endpoint, raw event rows", "bare", "/events/", "", False),
    ("history_read", "smsledger", "smsledger", "/v1/messages/", "/history", True),
)


def run(
    *, quick: bool = False, backend: str = "postgres", connections: int = CONNECTIONS
) -> list[Result]:
    if shutil.which("wrk") is None:
        msg = "wrk is not installed (Debian: apt-get install -y wrk)"
        raise SystemExit(msg)
    seconds = 2 if quick else 10
    results = []
    with scratch_database(backend) as db, tempfile.TemporaryDirectory() as tmp:
        ids, support = seed(db, 300 if quick else MESSAGES)
        ids_file = str(Path(tmp) / "ids.txt")
        Path(ids_file).write_text("\n".join(ids) + "\n")
        url = database_url(db)
        for kind in dict.fromkeys(v[2] for v in VARIANTS):
            with server(kind, url, free_port()) as base:
                for workload, variant, _, prefix, suffix, keyed in (
                    v for v in VARIANTS if v[2] == kind
                ):
                    auth = f"Bearer {support}" if keyed else ""
                    m = wrk(base, prefix, ids_file, auth, seconds, connections, suffix=suffix)
                    if m["errors"]:
                        msg = f"{workload}/{variant}: {int(m['errors'])} errors"
                        raise RuntimeError(msg)
                    results.append(
                        Result(
                            workload=workload,
                            variant=variant,
                            unit="req/s",
                            samples=[m["req_per_s"]],
                            backend=backend,
                            extra={
                                "connections": connections,
                                **{k: round(v, 3) for k, v in m.items()},
                            },
                        )
                    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    args = parser.parse_args()
    for r in run(quick=args.quick, backend=args.backend, connections=args.connections):
        e = r.extra
        print(
            f"{r.backend:8} {r.workload:12} {r.variant:38} p50 {e['p50_ms']:6.2f} ms  "
            f"p99 {e['p99_ms']:6.2f} ms  {e['req_per_s']:8.0f} req/s  "
            f"({int(e['requests'])} requests, {int(e['connections'])} connections)"
        )


if __name__ == "__main__":
    main()
