"""The webhook outbox projection on both databases: one row per status change with a
place to go, in log order, and a rebuild that neither loses nor resends one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from smsledger.bootstrap import build
from smsledger.settings import Settings

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database
    from smsledger.bootstrap import Services
    from tests.support import FakeClock

SE = ["+46731234567", "+46731234568"]


def rows(services: Services, table: str, order: str) -> list[tuple[Any, ...]]:
    with services.views.reading() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY {order}")
        return [tuple(r) for r in cur.fetchall()]


def test_changes_before_the_webhook_go_nowhere_and_after_it_each_gets_one_row(
    database: Database, clock: FakeClock
) -> None:
    settings = Settings(gateway="none", workers="none", webhook_allow_loopback=True)
    services = build(settings, database=database, clock=clock)
    try:
        ledger = services.ledger
        account = ledger.open_account("Acme").value
        ledger.top_up(account.id, 10_000, "t")
        # Sent before any webhook: nothing to report.
        before = ledger.send_batch(account.id, sender="Acme", recipients=SE[:1], body="a")
        services.runner.run_once()
        assert rows(services, "webhook_outbox", "position") == []
        ledger.configure_webhook(account.id, "http://127.0.0.1:9/h", ["message.status"])
        ledger.send_batch(account.id, sender="Acme", recipients=SE, body="b")
        # A change of the first message after the webhook is reported too.
        ledger.cancel(UUID(before.lines[0]["id"]))
        services.runner.run_once()
        outbox = rows(services, "webhook_outbox", "position")
        # Funded for each new message, Canceled for the old one: three rows, log order.
        assert len(outbox) == 3
        assert len({r[0] for r in outbox}) == 3
        # A rebuild finds the same rows and leaves each as it was (delivered or not).
        with services.views.transaction() as cur:
            cur.execute("UPDATE webhook_outbox SET state = 'done'")
        endpoints = rows(services, "webhook_endpoints", "account_id")
        services.runner.rebuild("webhook_outbox")
        assert rows(services, "webhook_endpoints", "account_id") == endpoints
        assert [r[0] for r in rows(services, "webhook_outbox", "position")] == [
            r[0] for r in outbox
        ]
        assert {r[7] for r in rows(services, "webhook_outbox", "position")} == {"done"}
    finally:
        services.close()
