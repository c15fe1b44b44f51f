"""The ``smsledger`` console script: serve, migrate, project, dispatch, sweep, history, audit."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from smsledger.settings import Settings
from smsledger.storage import Database

if TYPE_CHECKING:
    from collections.abc import Sequence


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.migrate import migrate

    db = Database.from_url(settings.database_url)
    applied = migrate(db)
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print("database is up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsledger", description="The back office of an SMS provider."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("migrate", help="apply migrations/ to the configured database")
    p.set_defaults(func=_cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format='{"t":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}',
    )
    args = build_parser().parse_args(argv)
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
