"""Workload: ``GET /v1/messages/{id}`` at 32 concurrent connections, beside the limit.

- bare: a bare FastAPI app whose one endpoint reads one row by primary key (the same
  message's JSON, stored in a plain table of the same database) and answers it with
  orjson: no auth, no middleware, no read model;
- smsledger: the real API (auth by key hash, the message read model, problem errors,
  metrics middleware) built by ``smsledger.bootstrap``.

Both run as real servers (uvicorn, one process each, same settings) on loopback, one
after the other in the same run; ``wrk`` (one thread, 32 connections, random ids from the
seeded messages) generates the load. Run: ``python -m bench.api_read [--quick]
[--backend postgres|sqlite]``; needs ``wrk`` on the PATH.
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

    from smsledger.storage import Database

CONNECTIONS = 32
MESSAGES = 2_000
BARE_TABLE = "bench_message_rows"

_WRK_SCRIPT = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local prefix = "%(prefix)s"
local auth = "%(auth)s"
math.randomseed(42)
request = function()
  local headers = {}
  if auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("GET", prefix .. ids[math.random(#ids)], headers)
end
local errors = 0
response = function(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "socket_errors": %%d, "non_200": %%d}\\n',
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


# --- the two servers (run in their own processes) -------------------------------------------


def smsledger_app() -> Any:
    from api.main import create_app
    from smsledger.bootstrap import build
    from smsledger.settings import Settings

    return create_app(build(Settings(workers="none", gateway="none")))


def bare_app() -> Any:
    """FastAPI + orjson, one row by primary key: the floor for any read endpoint."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    from projections.db import ViewDatabase
    from smsledger.settings import Settings
    from smsledger.storage import Database

    db = Database.from_url(Settings().database_url)
    views = ViewDatabase.open(db)
    ph = "%s" if db.is_postgres else "?"
    app = FastAPI()

    @app.get("/rows/{row_id}")
    def read_row(row_id: str) -> Response:
        with views.reading() as cur:
            cur.execute(f"SELECT body FROM {BARE_TABLE} WHERE id = {ph}", (row_id,))
            row = cur.fetchone()
        if row is None:
            return Response(status_code=404)
        body = row[0]
        return Response(
            body if isinstance(body, bytes) else bytes(body), media_type="application/json"
        )

    return app


# --- setup ----------------------------------------------------------------------------------


def seed(db: Database, n: int) -> tuple[list[str], str]:
    """``n`` messages through the real API code path, their read model caught up, and the
    same JSON in a plain table for the bare app. Returns the ids and a support key."""
    import orjson
    from fastapi.testclient import TestClient

    from api.main import create_app
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(kind: str, url: str, port: int) -> Iterator[str]:
    """A uvicorn process serving ``kind`` on loopback; same settings for both kinds."""
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
    base: str, prefix: str, ids_file: str, auth: str, seconds: int, connections: int
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_WRK_SCRIPT % {"ids": ids_file, "prefix": prefix, "auth": auth})
        script = f.name
    # Warm-up (connections, caches, the thread pool), then the measured run.
    for duration in (max(1, seconds // 5), seconds):
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", script, base],
            check=True,
            capture_output=True,
            text=True,
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
        "errors": raw["socket_errors"] + raw["non_200"],
    }


def run(
    *, quick: bool = False, backend: str = "postgres", connections: int = CONNECTIONS
) -> list[Result]:
    if shutil.which("wrk") is None:
        msg = "wrk is not installed (Debian: apt-get install -y wrk)"
        raise SystemExit(msg)
    seconds = 3 if quick else 10
    results = []
    with scratch_database(backend) as db, tempfile.TemporaryDirectory() as tmp:
        ids, support = seed(db, 500 if quick else MESSAGES)
        ids_file = str(Path(tmp) / "ids.txt")
        Path(ids_file).write_text("\n".join(ids) + "\n")
        url = database_url(db)
        for kind, prefix, auth in (
            ("bare", "/rows/", ""),
            ("smsledger", "/v1/messages/", f"Bearer {support}"),
        ):
            with server(kind, url, _free_port()) as base:
                m = wrk(base, prefix, ids_file, auth, seconds, connections)
            results.append(
                Result(
                    workload="api_read",
                    variant=kind,
                    unit="ms p99",
                    samples=[m["p99_ms"]],
                    backend=backend,
                    extra={"connections": connections, **{k: round(v, 3) for k, v in m.items()}},
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
            f"{r.backend:8} {r.variant:10} p50 {e['p50_ms']:6.2f} ms  p99 {e['p99_ms']:6.2f} ms  "
            f"max {e['max_ms']:7.2f} ms  {e['req_per_s']:8.0f} req/s  "
            f"({int(e['requests'])} requests, {int(e['errors'])} errors, "
            f"{int(e['connections'])} connections)"
        )


if __name__ == "__main__":
    main()
