"""``smsledger serve``: the HTTP API, and by default the workers, in one process.

Zero configuration works: a SQLite file in the working directory, migrated on start,
the carrier simulator, and an operator token generated on first start, printed once
and kept only as a hash in the database (so a restart keeps the same token working;
set ``SMSLEDGER_OPERATOR_TOKEN`` to use your own). On PostgreSQL it refuses to start
on an unmigrated database, or without ``SMSLEDGER_OPERATOR_TOKEN``.

``--workers N`` runs N API processes on one port under uvicorn's supervisor; this
process does the checks, the token and the background workers once
(``docs/deployment.md``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from smsledger.adapters.memory import MemoryTrimmer
from smsledger.adapters.migrate import migrate, pending

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from smsledger.adapters.storage import Database
    from smsledger.bootstrap import Services
    from smsledger.settings import Settings

log = logging.getLogger(__name__)

MIN_OPERATOR_TOKEN_LENGTH = 16
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "t": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def check_startup(settings: Settings, database: Database) -> None:
    """Refuse what production must never run with; migrate the embedded default."""
    from smsledger.bootstrap import StartupError

    if database.is_postgres:
        missing = pending(database)
        if missing:
            msg = (
                f"the database is not migrated ({len(missing)} pending: {', '.join(missing)}); "
                "run `smsledger migrate` first"
            )
            raise StartupError(msg)
        if not settings.operator_token:
            msg = "SMSLEDGER_OPERATOR_TOKEN must be set on PostgreSQL"
            raise StartupError(msg)
    else:
        applied = migrate(database)
        if applied:
            log.info("migrated the embedded database", extra={"applied": applied})
    token = settings.operator_token
    if token is not None and len(token) < MIN_OPERATOR_TOKEN_LENGTH:
        msg = f"SMSLEDGER_OPERATOR_TOKEN must be at least {MIN_OPERATOR_TOKEN_LENGTH} characters"
        raise StartupError(msg)
    metrics = settings.metrics_token
    if metrics is not None and len(metrics.get_secret_value()) < MIN_OPERATOR_TOKEN_LENGTH:
        msg = f"SMSLEDGER_METRICS_TOKEN must be at least {MIN_OPERATOR_TOKEN_LENGTH} characters"
        raise StartupError(msg)


def ensure_operator_token(services: Services, out: TextIO) -> str | None:
    """On the embedded default with no token set: generate one on first start, print it
    once, keep only its hash. Returns the new token, or ``None`` if none was made."""
    if services.settings.operator_token or services.database.is_postgres:
        return None
    if services.keys.has_live_role("operator"):
        print(
            "operator token: the one printed at first start (kept hashed in the database); "
            "set SMSLEDGER_OPERATOR_TOKEN to use your own",
            file=out,
        )
        return None
    issued = services.keys.issue("operator", None)
    print(
        "\n  operator token (shown ONCE; keep it, it is stored only as a hash):\n\n"
        f"    {issued.key}\n\n"
        f"  export SMSLEDGER_TOKEN={issued.key}\n",
        file=out,
        flush=True,
    )
    return issued.key


_ADDRESS_ENV = "_SMSLEDGER_SERVE_ADDRESS"
"""How ``serve --workers N`` tells its API processes the address they serve on (the
callback sender refuses callbacks aimed at it)."""


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> int:
    """Serve the API. ``workers`` > 1: that many API processes share the port (uvicorn's
    supervisor, which restarts one that dies); this process checks and migrates the
    database, prints the operator token and runs the background workers, each once."""
    import uvicorn

    from smsledger.bootstrap import StartupError, build, open_database
    from smsledger.projections.runner import SERVE_PAGE_SIZE

    if workers == 1:
        # With ``--workers N`` only the API processes build the app: the supervisor does
        # not import it, and starts them that much sooner.
        from smsledger.api.main import create_app
    configure_logging(settings.log_level)
    try:
        database = open_database(settings, create=True)
        check_startup(settings, database)
        services = build(settings, database=database)
    except StartupError as e:
        print(f"smsledger serve: {e}", file=sys.stderr)
        return 2
    trimmer = MemoryTrimmer()  # what a big send or a page freed goes back to the system
    trimmer.start()
    try:
        ensure_operator_token(services, sys.stdout)
        if services.callback_sender is not None:
            # A tenant may not aim callbacks at this service itself.
            services.callback_sender.add_own(host, port)
        if settings.workers == "inprocess":
            # The projections share this process with the API: smaller pages, a smaller
            # working set (``SERVE_PAGE_SIZE``); a separate ``smsledger project`` keeps
            # the larger, faster ones.
            services.runner.page_size = min(services.runner.page_size, SERVE_PAGE_SIZE)
            services.start_workers()
        log.info(
            "serving",
            extra={
                "url": f"http://{host}:{port}",
                "database": database.kind,
                "workers": settings.workers,
                "processes": workers,
                "gateway": settings.gateway,
            },
        )
        if workers == 1:
            app = create_app(services)
            uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
        else:
            os.environ[_ADDRESS_ENV] = f"{host}:{port}"  # the API processes inherit it
            os.environ[_SUPERVISOR_ENV] = str(os.getpid())
            uvicorn.run(
                f"{__name__}:api_process_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_config=None,
                access_log=False,
            )
    finally:
        trimmer.stop()
        services.close()
    return 0


_SUPERVISOR_ENV = "_SMSLEDGER_SERVE_SUPERVISOR"
"""The pid of the ``serve --workers N`` supervisor, for its API processes: compared with
their parent's, which may already have changed by the time one has imported the app."""

PARENT_CHECK_SECONDS = 0.5
"""How often an API process of ``serve --workers N`` looks whether its supervisor lives."""


def _exit_with_parent(parent: int, stop: threading.Event) -> None:
    """An API process whose supervisor died (``kill -9``: it could not stop its children)
    is reparented, and would keep serving on the port with nobody to restart it or run
    the background workers: it stops itself instead (SIGTERM, uvicorn's graceful stop,
    so requests in flight are answered), then, were that to hang, exits."""
    while True:
        if os.getppid() != parent:
            log.warning("the supervisor is gone; this API process stops", extra={"pid": parent})
            os.kill(os.getpid(), signal.SIGTERM)
            if not stop.wait(30):
                os._exit(1)
            return
        if stop.wait(PARENT_CHECK_SECONDS):
            return


def api_process_app() -> FastAPI:
    """The app of one API process of ``serve --workers N``: the same settings (from the
    environment), no background workers (the supervisor runs them), nothing migrated."""
    from smsledger.api.main import create_app
    from smsledger.bootstrap import build, open_database
    from smsledger.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    services = build(settings, database=open_database(settings))
    host, _, port = os.environ.get(_ADDRESS_ENV, "").rpartition(":")
    if services.callback_sender is not None and port.isdigit():
        services.callback_sender.add_own(host, int(port))
    app = create_app(services)
    trimmer = MemoryTrimmer()
    supervisor = os.environ.get(_SUPERVISOR_ENV, "")
    parent = int(supervisor) if supervisor.isdigit() else os.getppid()
    orphaned = threading.Event()

    @contextlib.asynccontextmanager
    async def closing(_: Any) -> AsyncIterator[None]:
        trimmer.start()
        threading.Thread(
            target=_exit_with_parent, args=(parent, orphaned), name="parent-watch", daemon=True
        ).start()
        try:
            yield
        finally:
            orphaned.set()
            trimmer.stop()
            services.close()

    app.router.lifespan_context = closing
    return app
