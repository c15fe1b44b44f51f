"""Reconciliation: message events, ledger entries and invoice lines agree, or the audit
says exactly where they do not."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from uuid import UUID

import pytest

from smsledger.adapters.storage import Database
from smsledger.adapters.views import open_views
from smsledger.application.ledger import Ledger
from tests.support import ReadSide, url_of

SE = ["+46731234567", "+46731234568", "+46731234569"]


@pytest.fixture
def queries(ledger: Ledger, database: Database) -> Iterator[ReadSide]:
    views = open_views(database)
    yield ReadSide(ledger, views)
    views.close()


def scenario(ledger: Ledger) -> tuple[UUID, UUID, list[str]]:
    prepaid = ledger.open_account("Prepaid").value
    post = ledger.open_account("Post", payment_model="post_invoice").value
    ledger.top_up(prepaid.id, 1000, "t1")
    paid = ledger.send_batch(prepaid.id, sender="Acme", recipients=SE, body="hi")
    billed = ledger.send_batch(post.id, sender="Acme", recipients=SE, body="hi")
    ledger.cancel(UUID(paid.lines[0]["id"]))
    ledger.cancel(UUID(billed.lines[0]["id"]))
    return prepaid.id, post.id, [line["id"] for line in paid.lines]


def test_consistent_ledger_reconciles(ledger: Ledger, queries: ReadSide) -> None:
    prepaid, post, _ = scenario(ledger)
    queries.runner.run_once()
    report = queries.reconciliation("2026-11")
    assert report["ok"] is True
    by_id = {a["account_id"]: a for a in report["accounts"]}
    assert by_id[prepaid] == {
        "account_id": prepaid,
        "messages_charged": 3,
        "charged_to_balance": 135,
        "charged_to_invoice": 0,
        "refunded_to_balance": 45,
        "refunded_on_invoice": 0,
        "top_ups": 1000,
        "fees": 0,
        "invoice_total": 0,
        "balance_movement": 1000 - 135 + 45,
        "discrepancies": [],
    }
    assert by_id[post]["charged_to_invoice"] == 135
    assert by_id[post]["refunded_on_invoice"] == 45
    assert by_id[post]["invoice_total"] == 90
    # One account only; an idle period has nothing to report.
    assert [a["account_id"] for a in queries.reconciliation("2026-11", post)["accounts"]] == [post]
    assert queries.reconciliation("2026-10")["accounts"] == []


def test_a_deleted_ledger_row_is_reported_with_its_message(
    ledger: Ledger, queries: ReadSide, database: Database
) -> None:
    prepaid, _, message_ids = scenario(ledger)
    queries.runner.run_once()
    ph = queries.store.ph
    with queries.views.transaction() as cur:
        cur.execute(
            f"DELETE FROM view_ledger_entries WHERE account_id = {ph} AND seq = 3",
            [queries.store.uuid(prepaid)],
        )
    report = queries.reconciliation("2026-11", prepaid)
    assert report["ok"] is False
    kinds = {(d["kind"], str(d.get("message_id"))) for d in report["accounts"][0]["discrepancies"]}
    assert ("charge_missing_from_ledger", message_ids[1]) in kinds
    assert ("ledger_gap", "None") in kinds

    # The audit command prints it and exits 1.
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": url_of(database)}
    done = subprocess.run(
        [sys.executable, "-m", "smsledger", "audit", "--period", "2026-11"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "charge_missing_from_ledger" in done.stdout
    assert message_ids[1] in done.stdout


def test_altered_amounts_and_invoice_lines_are_reported(ledger: Ledger, queries: ReadSide) -> None:
    prepaid, post, message_ids = scenario(ledger)
    queries.runner.run_once()
    s, ph = queries.store, queries.store.ph
    with queries.views.transaction() as cur:
        cur.execute(
            f"UPDATE view_ledger_entries SET amount = -40 WHERE account_id = {ph} AND seq = 2",
            [s.uuid(prepaid)],
        )
        cur.execute(
            f"UPDATE view_invoice_lines SET amount = amount + 1 WHERE account_id = {ph} "
            "AND kind = 'sms'",
            [s.uuid(post)],
        )
    report = queries.reconciliation("2026-11")
    found = {
        (d["kind"], str(d.get("message_id")))
        for a in report["accounts"]
        for d in a["discrepancies"]
    }
    assert ("charge_amount_mismatch", message_ids[0]) in found
    assert ("balance_chain_broken", "None") in found
    assert ("invoice_charges_mismatch", "None") in found


def test_audit_command_exits_0_when_everything_agrees(ledger: Ledger, database: Database) -> None:
    scenario(ledger)
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": url_of(database)}
    done = subprocess.run(
        [sys.executable, "-m", "smsledger", "audit", "--period", "2026-11"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout
