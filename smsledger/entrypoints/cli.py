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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from smsledger.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from smsledger.bootstrap import Services
    from smsledger.projections.runner import Health

log = logging.getLogger(__name__)

SWEEP_AHEAD_TOLERANCE = timedelta(minutes=5)
"""How far ``sweep --now`` may be ahead of the wall clock without ``--force``: room for
a clock a little off, none for a typo in the day."""


@contextlib.contextmanager
def _services(settings: Settings, **overrides: Any) -> Iterator[Services]:
    """The wired service for one command, on a ledger that must already exist.

    The database is checked first (``bootstrap.open_database``: nothing is created, a
    wrong URL is one line). An existing SQLite file is brought up to date, as ``serve``
    does; PostgreSQL is migrated by ``smsledger migrate`` alone, so an unmigrated one is
    an error here too."""
    from smsledger.adapters.migrate import migrate, pending
    from smsledger.bootstrap import StartupError, build, open_database

    database = open_database(settings)
    if database.is_postgres:
        missing = pending(database)
        if missing:
            msg = (
                f"the database at {database.where} is not migrated "
                f"({len(missing)} pending); run smsledger migrate"
            )
            raise StartupError(msg)
    else:
        migrate(database)
    # A command reads what it just caught up, on the database itself: never a standby.
    update = {"read_database_url": None, **overrides}
    services = build(settings.model_copy(update=update), database=database)
    try:
        yield services
    finally:
        services.close()


def _json(document: Any) -> str:
    """A document as indented JSON, every time in UTC with ``Z`` as the API writes it."""
    import orjson

    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
    return orjson.dumps(document, option=options).decode() + "\n"


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.migrate import MigrationsMissingError, migrate
    from smsledger.bootstrap import open_database

    database = open_database(settings, create=True)
    try:
        applied = migrate(database)
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

    return serve(settings, host=args.host, port=args.port, workers=args.workers)


def _cmd_project(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings, gateway="none") as services:
        runner = services.runner
        if args.rebuild:
            from tqdm import tqdm

            # The read models, and the dispatcher's delivery queue: a projection too, with
            # its own runner, so a poison event it skipped heals the same way.
            owners = {p.name: runner for p in runner.projections}
            owners |= {
                p.name: services.dispatcher.runner for p in services.dispatcher.runner.projections
            }
            if args.rebuild not in owners:
                print(
                    f"smsledger project: no projection {args.rebuild!r}; have: {', '.join(owners)}",
                    file=sys.stderr,
                )
                return 2
            owner = owners[args.rebuild]
            with tqdm(total=owner.head(), unit="ev", desc=f"rebuild {args.rebuild}") as bar:

                def progress(position: int, head: int) -> None:
                    bar.total = max(head, position)
                    bar.n = position
                    bar.refresh()

                n = owner.rebuild(args.rebuild, progress=progress)
            print(f"rebuilt {args.rebuild}: {n} events applied")
        if args.once:
            n = runner.run_once()
            print(f"applied {n} events")
            print(format_health(runner.health()))
            return 0
        unhealthy = [h for h in runner.health() if not h.healthy]
        if unhealthy:  # said once at start; each new skip is logged as it happens
            print(format_health(unhealthy), file=sys.stderr)
        _run_leased(services, "projections", runner.run_forever)
        return 0


def format_health(health: Sequence[Health]) -> str:
    """Each projection's position and lag, and the events it skipped, for ``project``."""
    out = []
    for h in health:
        skipped = f", {h.failed} event(s) skipped: UNHEALTHY" if h.failed else ""
        out.append(f"  {h.name}: position {h.position}, lag {h.lag}{skipped}")
        out.extend(
            f"    ! position {f.position} {f.topic} (originator {f.originator_id}"
            f"{', account ' + f.account_id if f.account_id else ''}): {f.error}"
            for f in h.failures
        )
        if h.failed > len(h.failures):
            out.append(f"    ... and {h.failed - len(h.failures)} more")
    if any(h.failed for h in health):
        out.append(
            "  fix the cause, then `smsledger project --rebuild NAME` replays the projection "
            'and clears its skipped events (docs/projections.md, "Poison events")'
        )
    return "\n".join(out)


def _cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.domain.errors import MessageNotFoundError

    with _services(settings, gateway="none") as services:
        if isinstance(args.message_id, str):  # a number: its block-list history
            if args.as_of is not None:
                print("smsledger history: --as-of is for a message id", file=sys.stderr)
                return 2
            services.runner.catch_up(None, timeout=10.0)  # what the log says now
            number = services.queries.number_history(args.message_id)
            if not number["accounts"]:
                print(
                    f"smsledger history: {args.message_id} was never on a block list",
                    file=sys.stderr,
                )
                return 1
            sys.stdout.write(_json(number))
            return 0
        try:
            history = services.queries.history(args.message_id, args.as_of)
        except MessageNotFoundError:
            print(f"smsledger history: no message {args.message_id}", file=sys.stderr)
            return 1
    sys.stdout.write(_json(history))
    return 0


def _cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.domain.errors import AccountNotFoundError, SmsLedgerError

    with _services(settings, gateway="none") as services:
        try:
            services.runner.catch_up(None, timeout=10.0)  # audit what the log says now
            report = services.queries.reconciliation(args.period, args.account)
        except AccountNotFoundError:
            print(f"smsledger audit: no account {args.account}", file=sys.stderr)
            return 1
        except SmsLedgerError as e:
            print(f"smsledger audit: {e}", file=sys.stderr)
            return 2
    if args.json:
        sys.stdout.write(_json(report))
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
        _run_leased(services, "dispatcher", dispatcher.run_forever)
        return 0


def _cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.application.ledger import utc_now
    from smsledger.domain.times import utc_text

    # The entrypoint, not the domain, reads the wall clock: a sweep "at" a time the
    # world has not reached records expiries (final: the message can no longer be
    # sent) and 599s dated in the future, so it takes a deliberate --force.
    ahead = args.now - utc_now() if args.now is not None else None
    if ahead is not None and ahead > SWEEP_AHEAD_TOLERANCE and not args.force:
        print(
            f"smsledger sweep: --now {utc_text(args.now)} is {_span(ahead)} ahead of the "
            "clock; it would record expiries dated in the future (nothing done; "
            "--force to sweep at that time anyway)",
            file=sys.stderr,
        )
        return 2
    with _services(settings) as services:
        services.runner.run_once()  # month end reads the invoices view: bring it up to date
        result = services.sweeper.sweep(args.now)
    print(
        f"expired {len(result.expired)}, unknown (no receipt) {len(result.gave_up)}, "
        f"invoices issued {result.invoices_issued}"
    )
    return 0


def _span(delta: timedelta) -> str:
    """A duration as an operator reads it: '4 days 2 h', '35 min'."""
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _cmd_deliver_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.bootstrap import webhook_worker

    with _services(settings, gateway="none") as services:
        # Alone, it follows the log into the outbox itself (beside any other runner:
        # they take turns page by page).
        worker = webhook_worker(services, follow=True)
        if args.until_idle:
            print(f"delivered {worker.run_until_idle()} callback(s)")
            return 0
        _run_leased(services, "webhooks", worker.run_forever)
        return 0


def _run_leased(services: Services, name: str, run: Callable[[threading.Event], None]) -> None:
    """Run a worker loop until a signal, while this process holds its lease: a second
    one started beside it waits, and takes over when the first stops or dies (the same
    lease as ``serve``'s in-process worker of that name)."""
    from smsledger.bootstrap import leased_worker

    leased_worker(services.database, name, run).run(_stop_on_signal())


def _stop_on_signal() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a worker loop finishes its page and exits."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


# --- argument types: each turns a bad value into a one-line usage error (exit 2) ---------


def _uuid(what: str) -> Callable[[str], UUID]:
    def parse(text: str) -> UUID:
        try:
            # ASCII only: UUID() also reads full-width and other scripts' digits.
            if not text.isascii():
                raise ValueError
            return UUID(text)
        except ValueError:
            shown = repr(text) if len(text) <= 60 else "that"
            msg = (
                f"{what} must be a UUID (such as 0b6f3c2e-3f1d-4b7a-9c55-2d1e8f4a6b10), got {shown}"
            )
            raise argparse.ArgumentTypeError(msg) from None

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def _message_or_number(text: str) -> UUID | str:
    """A message id, or a phone number (``+46731234567``, normalised to E.164)."""
    if text.startswith("+") or (text.isascii() and text.isdigit()):
        from smsledger.domain.addressing import normalise_msisdn
        from smsledger.domain.errors import InvalidRecipientError

        try:
            return normalise_msisdn(text)
        except InvalidRecipientError as e:
            raise argparse.ArgumentTypeError(str(e).replace("recipient", "number")) from None
    return _uuid("message id")(text)


def _time(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time with an offset, inside ``domain.times``'s window."""
    from smsledger.domain.times import WINDOW, in_window

    shown = repr(text) if len(text) <= 60 else "that"
    try:
        value = datetime.fromisoformat(text) if text.isascii() else None
    except ValueError:
        value = None
    if value is None:
        msg = f"not an ISO 8601 time: {shown}; e.g. 2026-11-02T10:00+01:00"
        raise argparse.ArgumentTypeError(msg)
    if value.tzinfo is None:
        msg = f"{shown} needs an offset, e.g. 2026-11-02T10:00+01:00 or ...Z"
        raise argparse.ArgumentTypeError(msg)
    if in_window(value) is None:
        msg = f"{shown} is out of range: a time {WINDOW}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _period(text: str) -> str:
    """``YYYY-MM`` in ASCII digits within the years a ledger holds (``domain.periods``)."""
    from smsledger.domain.errors import InvalidRequestError
    from smsledger.domain.periods import parse_period

    try:
        parse_period(text)
    except InvalidRequestError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            msg = f"must be a whole number from {low} to {high}, got {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return int(text)

    return parse


EXIT_CODES = """\
exit codes:
  0  done (audit: no discrepancy)
  1  an unknown message or account; audit found a discrepancy
  2  a usage or setup error: a bad argument, a database URL that cannot be used
     (no directory, no database, refused, unknown host), an unmigrated database,
     sweep --now ahead of the clock without --force

SMSLEDGER_DATABASE_URL picks the database (default sqlite:///./smsledger.db)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsledger",
        description="The back office of an SMS provider.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="the HTTP API, plus the workers in the same process")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_count(0, 65535), default=8000)
    p.add_argument(
        "--workers",
        type=_count(1, 64),
        default=1,
        metavar="N",
        help="API processes sharing the port (default 1); the background workers run "
        "once, in the supervising process (docs/deployment.md)",
    )
    p.set_defaults(func=_cmd_serve)
    p = sub.add_parser("migrate", help="apply the migrations to the configured database")
    p.set_defaults(func=_cmd_migrate)
    p = sub.add_parser("project", help="run the projections (read models) as their own process")
    p.add_argument("--once", action="store_true", help="catch up, then exit")
    p.add_argument("--rebuild", metavar="NAME", help="replay one projection from zero first")
    p.set_defaults(func=_cmd_project)
    p = sub.add_parser("dispatch", help="run the dispatcher (hand-off and reports) on its own")
    p.add_argument(
        "--batch-size", type=_count(1, 10_000), default=200, help="messages per hand-off batch"
    )
    p.add_argument("--until-idle", action="store_true", help="exit once nothing is left to do")
    p.set_defaults(func=_cmd_dispatch)
    p = sub.add_parser("deliver-webhooks", help="run the status-callback worker on its own")
    p.add_argument("--until-idle", action="store_true", help="exit once nothing is due")
    p.set_defaults(func=_cmd_deliver_webhooks)
    p = sub.add_parser("sweep", help="one expiry pass, then exit")
    p.add_argument(
        "--now",
        type=_time,
        help="ISO 8601 time with offset to sweep at (default: now); more than "
        f"{int(SWEEP_AHEAD_TOLERANCE.total_seconds() // 60)} minutes ahead of the clock "
        "needs --force",
    )
    p.add_argument(
        "--force", action="store_true", help="sweep at a --now ahead of the clock anyway"
    )
    p.set_defaults(func=_cmd_sweep)
    p = sub.add_parser(
        "history",
        help="a message's event history, or a number's block-list history, for support",
    )
    p.add_argument(
        "message_id",
        type=_message_or_number,
        help="a message id, or a number (+46...): when and why each account blocked it",
    )
    p.add_argument(
        "--as-of",
        type=_time,
        help="ISO 8601 time with offset: only the events recorded by then, and the status then",
    )
    p.set_defaults(func=_cmd_history)
    p = sub.add_parser("audit", help="the reconciliation report; exit 1 on any discrepancy")
    p.add_argument(
        "--period", type=_period, required=True, help="YYYY-MM, in each account's time zone"
    )
    p.add_argument("--account", type=_uuid("account id"), help="one account's id")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=_cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; see ``EXIT_CODES``. Whatever goes wrong with the setup (the
    settings, the database) is one line on stderr and exit 2, never a traceback."""
    import sqlite3

    import psycopg
    from eventsourcing.persistence import PersistenceError
    from psycopg_pool import PoolTimeout
    from pydantic import ValidationError

    from smsledger.bootstrap import StartupError
    from smsledger.entrypoints.server import configure_logging

    args = build_parser().parse_args(argv)
    name = f"smsledger {args.command}"
    try:
        settings = Settings()
    except ValidationError as e:
        first = e.errors()[0]
        field = "_".join(str(part) for part in first["loc"]).upper()
        print(f"{name}: SMSLEDGER_{field}: {first['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        return int(args.func(args, settings))
    except StartupError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    except (PersistenceError, psycopg.Error, PoolTimeout, sqlite3.Error) as e:
        # The database went away or refused midway: say so in a line; the details go
        # to the log for whoever runs with SMSLEDGER_LOG_LEVEL=DEBUG.
        log.debug("database error", exc_info=True)
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"{name}: database error: {reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
