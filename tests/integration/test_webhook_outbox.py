"""The webhook outbox projection on both databases: one row per status change with a
place to go, in log order, and a rebuild that neither loses nor resends one."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsledger.bootstrap import build
from smsledger.domain.errors import ConflictError
from smsledger.domain.webhooks import event_id_for, webhook_id_for
from smsledger.projections import store_for
from smsledger.projections.queries import build_runner
from smsledger.projections.webhooks import STATUS_TOPICS
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
    services = build(
        Settings(gateway="none", workers="none", webhook_allow_loopback=True),
        database=database,
        clock=clock,
    )
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


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("configure"), st.sampled_from([["message.status"], []])),
        st.tuples(st.just("remove"), st.none()),
        st.tuples(st.just("send"), st.booleans()),  # with a status_callback or not
        st.tuples(st.just("report"), st.sampled_from([201, 302, 111])),
        st.tuples(st.just("cancel"), st.none()),
        st.tuples(st.just("project"), st.none()),
    ),
    min_size=1,
    max_size=12,
)


def expected_rows(services: Services, account_id: UUID) -> set[tuple[str, str]]:
    """The outbox as the rules say, folded from the log alone: each status change of the
    account's messages, to its batch's callback, else to the webhook as of that event."""
    log = services.ledger
    webhook: tuple[str, list[str]] | None = None
    callbacks: dict[UUID, str] = {}
    batch_of: dict[UUID, UUID] = {}
    out: set[tuple[str, str]] = set()
    for n in log.recorder.select_notifications(start=0, limit=10**9):
        e: Any = log.mapper.to_domain_event(n)
        kind = n.topic.rsplit(".", 1)[1]
        if n.topic.startswith("smsledger:Account.") and e.originator_id == account_id:
            if kind == "WebhookConfigured":
                webhook = (e.url, list(e.events))
            elif kind == "WebhookRemoved":
                webhook = None
        elif n.topic == "smsledger:Batch.Submitted" and e.account_id == account_id:
            if e.status_callback:
                callbacks[e.originator_id] = e.status_callback
        elif n.topic == "smsledger:Message.Accepted" and e.account_id == account_id:
            batch_of[e.originator_id] = e.batch_id
        elif n.topic in STATUS_TOPICS and e.originator_id in batch_of:
            url = callbacks.get(batch_of[e.originator_id])
            if url is None and webhook is not None and "message.status" in webhook[1]:
                url = webhook[0]
            if url is not None:
                out.add((webhook_id_for(event_id_for(e.originator_id, e.originator_version)), url))
    return out


def outbox_of(services: Services, account_id: UUID) -> set[tuple[str, str]]:
    s = store_for(services.views.dialect)
    with services.views.reading() as cur:
        cur.execute(
            f"SELECT webhook_id, url FROM webhook_outbox WHERE account_id = {s.ph}",
            (s.uuid(account_id),),
        )
        return {(r[0], r[1]) for r in cur.fetchall()}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, page_size=st.sampled_from([1, 3, 1000]))
def test_the_outbox_is_what_the_rules_say_in_any_paging_and_after_a_rebuild(
    database: Database, clock: FakeClock, steps: list[tuple[str, Any]], page_size: int
) -> None:
    services = build(
        Settings(gateway="none", workers="none", webhook_allow_loopback=True),
        database=database,
        clock=clock,
    )
    try:
        ledger = services.ledger
        runner = build_runner(ledger, services.views, page_size=page_size)
        account = ledger.open_account("Acme").value
        ledger.top_up(account.id, 10**6, "t")
        messages: list[UUID] = []
        for i, (kind, arg) in enumerate(steps):
            clock.advance(seconds=1)
            if kind == "configure":
                ledger.configure_webhook(account.id, f"http://127.0.0.1:9/{i}", arg)
            elif kind == "remove":
                ledger.remove_webhook(account.id)
            elif kind == "send":
                if arg and ledger.get_account(account.id).webhook_config is None:
                    continue
                receipt = ledger.send_batch(
                    account.id,
                    sender="Acme",
                    recipients=SE,
                    body="hi",
                    status_callback=f"http://127.0.0.1:9/batch-{i}" if arg else None,
                )
                messages += [UUID(line["id"]) for line in receipt.lines]
            elif kind == "report" and messages:
                at = clock().isoformat()
                ledger.record_delivery_reports(
                    [{"message_id": str(m), "status_code": arg, "at": at} for m in messages[-2:]]
                )
            elif kind == "cancel" and messages:
                with contextlib.suppress(ConflictError):
                    ledger.cancel(messages[0])
            elif kind == "project":
                runner.run_once()
        runner.run_once()
        expected = expected_rows(services, account.id)
        assert outbox_of(services, account.id) == expected
        # A rebuild from zero finds exactly those rows again.
        with services.views.transaction() as cur:
            s = store_for(services.views.dialect)
            cur.execute(
                f"DELETE FROM webhook_outbox WHERE account_id = {s.ph}", (s.uuid(account.id),)
            )
        runner.rebuild("webhook_outbox")
        assert outbox_of(services, account.id) == expected
    finally:
        services.close()
