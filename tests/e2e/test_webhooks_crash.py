"""Callbacks from real processes: ``smsledger serve`` end to end with the simulator, and
kill -9 of the delivering process at random points: every status change still reaches
the receiver at least once, and no ``webhook-id`` ever names two changes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import httpx
import pytest

from smsledger.application.ledger import utc_now
from smsledger.bootstrap import build
from smsledger.domain.message import Message
from smsledger.domain.webhooks import derive_secret, event_id_for, webhook_id_for
from smsledger.projections.webhooks import STATUS_TOPICS
from smsledger.settings import Settings
from smsledger.workers.webhooks import WebhookWorker
from tests.e2e.serving import SMSLEDGER, clean_env, serve
from tests.support import url_of
from tests.webhook_receiver import receiving, wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from smsledger.adapters.storage import Database
    from smsledger.bootstrap import Services
    from tests.support import FakeClock

KILLS = 20
TOKEN = "op-test-token-0123456789abcdef"
SE = [f"+4673123{i:04d}" for i in range(12)]


def expected_ids(services: Services, message_ids: list[UUID]) -> set[str]:
    """The webhook-id of every status change, straight from the event store."""
    topics = {t.rsplit(".", 1)[1] for t in STATUS_TOPICS}
    ids = set()
    for mid in message_ids:
        aggregate: Message | None = None
        for event in services.ledger.events.get(mid):
            before: int | None = None if aggregate is None else aggregate.status
            aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
            assert isinstance(aggregate, Message)
            if type(event).__name__ in topics and aggregate.status != before:
                ids.add(webhook_id_for(event_id_for(mid, event.originator_version)))
    return ids


@pytest.mark.slow
def test_kill_9_of_the_delivering_process_loses_no_change_and_reuses_no_id(
    database: Database, clock: FakeClock
) -> None:
    settings = Settings(
        operator_token="op-test-token-0123456789abcdef",
        gateway="simulator",
        simulator_mix="delivered=1",
        workers="none",
        webhook_allow_loopback=True,
    )
    services = build(settings, database=database, clock=clock)
    rng = random.Random(15)
    try:
        with receiving() as receiver:
            # A slow receiver, so that kills land between a send and its record.
            receiver.delay = 0.2
            # An account with a webhook sends; the carrier reports every message.
            account = services.ledger.open_account("Acme").value
            services.ledger.top_up(account.id, 100_000, "t")
            account_after, nonce = services.ledger.configure_webhook(
                account.id, receiver.url, ["message.status"]
            ).value
            assert services.webhook_key is not None
            receiver.secrets.append(derive_secret(services.webhook_key.get(), account.id, nonce))
            receipt = services.ledger.send_batch(
                account.id, sender="Acme", recipients=SE, body="hi"
            )
            message_ids = [UUID(line["id"]) for line in receipt.lines]
            for _ in range(8):
                services.dispatcher.run_until_idle()
                clock.advance(seconds=60)
            expected = expected_ids(services, message_ids)
            assert len(expected) >= 4 * len(SE)
            # The delivering process, killed at random moments while it follows the log
            # and sends; each start takes up what the last one left.
            env = clean_env(
                SMSLEDGER_DATABASE_URL=url_of(database),
                SMSLEDGER_GATEWAY="none",
                SMSLEDGER_WEBHOOK_ALLOW_LOOPBACK="1",
                SMSLEDGER_WEBHOOK_LEASE_SECONDS="0.5",
                SMSLEDGER_WEBHOOK_CONCURRENCY="2",
                SMSLEDGER_LOG_LEVEL="WARNING",
            )
            started = time.monotonic()
            for _ in range(KILLS):
                process = subprocess.Popen(
                    [SMSLEDGER, "deliver-webhooks"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(rng.uniform(0.8, 2.5))
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
            assert time.monotonic() - started < 90
            # One last worker, left to finish (the wall clock: the leases are real time).
            services.runner.run_once()
            worker = WebhookWorker(
                services.ledger,
                services.views,
                services.callback_sender,  # type: ignore[arg-type]
                services.webhook_key.get,
                clock=utc_now,
                lease=timedelta(seconds=0.5),
            )
            deadline = time.monotonic() + 30
            while not set(receiver.ids) >= expected and time.monotonic() < deadline:
                worker.deliver_once()
                time.sleep(0.1)
            # Every change arrived, verified; an id that came twice came with the same change.
            assert receiver.forged == 0
            assert set(receiver.ids) == expected
            changes = receiver.changes()
            assert len(changes) == len(expected)
            for webhook_id, n in receiver.ids.items():
                if n > 1:
                    bodies = receiver.bodies(webhook_id)
                    assert all(b == bodies[0] for b in bodies)
            assert account_after.webhook_config is not None
    finally:
        services.close()


def test_a_real_serve_delivers_every_status_change_with_the_simulator(
    database: Database, tmp_path: Path
) -> None:
    # `smsledger serve` with its workers and the simulated carrier, and a real receiver.
    env = clean_env(
        SMSLEDGER_DATABASE_URL=url_of(database),
        SMSLEDGER_OPERATOR_TOKEN=TOKEN,
        SMSLEDGER_WEBHOOK_ALLOW_LOOPBACK="1",
        SMSLEDGER_SIMULATOR_SPEED="50",
        SMSLEDGER_SIMULATOR_MIX="delivered=1",
    )
    op = {"Authorization": f"Bearer {TOKEN}"}
    with receiving() as receiver, serve(tmp_path, env) as served:
        api = httpx.Client(base_url=served.url, timeout=10)
        account = api.post(
            "/v1/accounts",
            json={"name": "Acme", "payment_model": "post_invoice", "currency": "SEK"},
            headers=op,
        ).json()
        admin = {"Authorization": f"Bearer {account['admin_key']}"}
        r = api.put(
            f"/v1/accounts/{account['id']}/webhook", json={"url": receiver.url}, headers=admin
        )
        assert r.status_code == 200, r.text
        receiver.secrets.append(r.json()["secret"])
        # Its own address is refused as a target, loopback allowed or not.
        for own in (served.url, served.url.replace("127.0.0.1", "localhost")):
            refused = api.put(
                f"/v1/accounts/{account['id']}/webhook",
                json={"url": own + "/v1/messages"},
                headers=admin,
            )
            assert refused.status_code == 422, refused.text
        sent = api.post(
            "/v1/messages",
            json={"sender": "Acme", "recipients": SE[:3], "body": "hi"},
            headers=admin,
        ).json()
        ids = {m["id"] for m in sent["messages"]}

        def final_everywhere() -> bool:
            finals = {r.body["id"] for r in receiver.received if r.body["final"]}
            return finals >= ids

        assert wait_until(final_everywhere, timeout=30)
        assert receiver.forged == 0
        assert set(receiver.ids.values()) == {1}
        receiver.changes()
        deliveries = api.get(
            f"/v1/accounts/{account['id']}/webhook/deliveries", headers=admin
        ).json()["items"]
        assert {d["state"] for d in deliveries} == {"done"}
