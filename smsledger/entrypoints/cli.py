"""The ``smsledger`` console script: serve, migrate, project, dispatch, deliver-webhooks,
sweep, history, audit.

Every command builds what it needs through the one composition root
(``smsledger.bootstrap.build``) from ``Settings``, exactly as ``serve`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from smsledger.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from smsledger.bootstrap import Services

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _services(settings: Settings, **overrides: Any) -> Iterator[Services]:
    """The wired service for one command; the embedded default migrates itself, as
    ``serve`` does (PostgreSQL is migrated by ``smsledger migrate`` alone)."""
    from smsledger.adapters.migrate import migrate
    from smsledger.adapters.storage import Database
    from smsledger.bootstrap import build

    database = Database.from_url(settings.database_url)
    if not database.is_postgres:
        migrate(database)
    services = build(settings.model_copy(update=overrides), database=database)
    try:
        yield services
    finally:
        services.close()


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.migrate import MigrationsMissingError, migrate
    from smsledger.adapters.storage import Database

    try:
        applied = migrate(Database.from_url(settings.database_url))
    except MigrationsMissingError as e:
        print(f"smsledger migrate: {e}", file=sys.stderr)
        return 2
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print("database is up to date")
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.entrypoints.server import serve

    return serve(settings, host=args.host, port=args.port)


def _cmd_project(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings, gateway="none") as services:
        runner = services.runner
        if args.rebuild:
            from tqdm import tqdm

            names = [p.name for p in runner.projections]
            if args.rebuild not in names:
                print(f"no projection {args.rebuild!r}; have: {', '.join(names)}", file=sys.stderr)
                return 2
            with tqdm(total=runner.head(), unit="ev", desc=f"rebuild {args.rebuild}") as bar:

                def progress(position: int, head: int) -> None:
                    bar.total = max(head, position)
                    bar.n = position
                    bar.refresh()

                n = runner.rebuild(args.rebuild, progress=progress)
            print(f"rebuilt {args.rebuild}: {n} events applied")
        if args.once:
            n = runner.run_once()
            print(f"applied {n} events")
            for p in runner.progress():
                print(f"  {p.name}: position {p.position}, lag {p.lag}")
            return 0
        runner.run_forever(_stop_on_signal())
        return 0


def _cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime
    from uuid import UUID

    import orjson

    from smsledger.domain.errors import MessageNotFoundError

    try:
        message_id = UUID(args.message_id)
        as_of = datetime.fromisoformat(args.as_of) if args.as_of else None
    except ValueError as e:
        print(f"smsledger history: {e}", file=sys.stderr)
        return 2
    if as_of is not None and as_of.tzinfo is None:
        print(
            "smsledger history: --as-of needs an offset, e.g. 2026-11-02T10:00+01:00",
            file=sys.stderr,
        )
        return 2
    with _services(settings, gateway="none") as services:
        try:
            history = services.queries.history(message_id, as_of)
        except MessageNotFoundError:
            print(f"no message {message_id}", file=sys.stderr)
            return 1
    sys.stdout.write(orjson.dumps(history, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from uuid import UUID

    import orjson

    from smsledger.domain.errors import SmsLedgerError

    try:
        account_id = UUID(args.account) if args.account else None
    except ValueError as e:
        print(f"smsledger audit: {e}", file=sys.stderr)
        return 2
    with _services(settings, gateway="none") as services:
        try:
            services.runner.catch_up(None, timeout=10.0)  # audit what the log says now
            report = services.queries.reconciliation(args.period, account_id)
        except SmsLedgerError as e:
            print(f"smsledger audit: {e}", file=sys.stderr)
            return 2
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_reconciliation(report))
    return 0 if report["ok"] else 1


def format_reconciliation(report: Mapping[str, Any]) -> str:
    """The reconciliation report as text, for ``smsledger audit``."""
    out = [
        f"reconciliation {report['period']}: "
        f"{'OK' if report['ok'] else 'DISCREPANCIES'} ({len(report['accounts'])} accounts)"
    ]
    for a in report["accounts"]:
        out.append(f"account {a['account_id']}")
        out.extend(
            f"  {field:<20} {a[field]}"
            for field in (
                "messages_charged",
                "charged_to_balance",
                "charged_to_invoice",
                "refunded_to_balance",
                "refunded_on_invoice",
                "top_ups",
                "invoice_total",
                "balance_movement",
            )
        )
        for d in a["discrepancies"]:
            about = f" message {d['message_id']}" if "message_id" in d else ""
            out.append(f"  ! {d['kind']}{about}: {d['detail']}")
    return "\n".join(out)


def _cmd_dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.workers.dispatcher import Dispatcher

    with _services(settings) as services:
        if services.gateway is None:
            print("SMSLEDGER_GATEWAY=none: only keeping the delivery queue current")
        dispatcher = Dispatcher(
            services.ledger, services.views, services.gateway, batch_size=args.batch_size
        )
        if args.until_idle:
            n = dispatcher.run_until_idle()
            print(f"idle after {n} steps of work")
            return 0
        dispatcher.run_forever(_stop_on_signal())
        return 0


def _cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime

    try:
        now = datetime.fromisoformat(args.now) if args.now else None
    except ValueError as e:
        print(f"smsledger sweep: {e}", file=sys.stderr)
        return 2
    if now is not None and now.tzinfo is None:
        print(
            "smsledger sweep: --now needs an offset, e.g. 2026-11-02T10:00+01:00", file=sys.stderr
        )
        return 2
    with _services(settings) as services:
        result = services.sweeper.sweep(now)
    print(f"expired {len(result.expired)}, unknown (no receipt) {len(result.gave_up)}")
    return 0


def _cmd_deliver_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.bootstrap import webhook_worker

    with _services(settings, gateway="none") as services:
        # Alone, it follows the log into the outbox itself (beside any other runner:
        # they take turns page by page).
        worker = webhook_worker(services, follow=True)
        if args.until_idle:
            print(f"delivered {worker.run_until_idle()} callback(s)")
            return 0
        worker.run_forever(_stop_on_signal())
        return 0


def _stop_on_signal() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a worker loop finishes its page and exits."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsledger", description="The back office of an SMS provider."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="the HTTP API, plus the workers in the same process")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=_cmd_serve)
    p = sub.add_parser("migrate", help="apply the migrations to the configured database")
    p.set_defaults(func=_cmd_migrate)
    p = sub.add_parser("project", help="run the projections (read models) as their own process")
    p.add_argument("--once", action="store_true", help="catch up, then exit")
    p.add_argument("--rebuild", metavar="NAME", help="replay one projection from zero first")
    p.set_defaults(func=_cmd_project)
    p = sub.add_parser("dispatch", help="run the dispatcher (hand-off and reports) on its own")
    p.add_argument("--batch-size", type=int, default=200, help="messages per hand-off batch")
    p.add_argument("--until-idle", action="store_true", help="exit once nothing is left to do")
    p.set_defaults(func=_cmd_dispatch)
    p = sub.add_parser("deliver-webhooks", help="run the status-callback worker on its own")
    p.add_argument("--until-idle", action="store_true", help="exit once nothing is due")
    p.set_defaults(func=_cmd_deliver_webhooks)
    p = sub.add_parser("sweep", help="one expiry pass, then exit")
    p.add_argument("--now", help="ISO 8601 time with offset to sweep at (default: now)")
    p.set_defaults(func=_cmd_sweep)
    p = sub.add_parser("history", help="a message's event history, for support")
    p.add_argument("message_id")
    p.add_argument("--as-of", help="ISO 8601 time with offset: the status as of then")
    p.set_defaults(func=_cmd_history)
    p = sub.add_parser("audit", help="the reconciliation report; exit 1 on any discrepancy")
    p.add_argument("--period", required=True, help="YYYY-MM, in each account's time zone")
    p.add_argument("--account", help="one account's id")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=_cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from smsledger.entrypoints.server import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    args = build_parser().parse_args(argv)
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
