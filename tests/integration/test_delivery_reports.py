"""Delivery reports as a batch use case, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from smsledger.application.ledger import Ledger
from smsledger.domain.errors import InvalidRequestError
from tests.support import FakeClock

SE = [f"+4670123{i:04d}" for i in range(20)]


def handed_off(ledger: Ledger, n: int, model: str = "balance") -> tuple[UUID, list[UUID]]:
    """An account with ``n`` messages that a gateway has taken."""
    account = ledger.open_account("Acme", payment_model=model).value
    if model == "balance":
        ledger.top_up(account.id, 10_000, "t")
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=SE[:n], body="hi")
    ids = [UUID(line["id"]) for line in receipt.lines]
    now = ledger.now()
    started, _ = ledger.start_sending(ids, now).value
    assert len(started) == n
    ledger.record_hand_offs({m: f"gw-{i}" for i, m in enumerate(ids)}, {}, now)
    return account.id, ids


def report(
    mid: UUID | str, code: Any, at: str = "2026-11-02T09:05:00+00:00", **kw: Any
) -> dict[str, Any]:
    return {"message_id": str(mid), "status_code": code, "at": at, **kw}


def history(ledger: Ledger, mid: UUID) -> list[Any]:
    return list(ledger.repository.event_store.get(mid))


def test_each_report_gets_its_outcome_in_one_batch(ledger: Ledger, clock: FakeClock) -> None:
    account_id, (a, b, c) = handed_off(ledger, 3)
    clock.advance(minutes=5)
    written = ledger.record_delivery_reports(
        [
            report(a, 112, "2026-11-02T09:01:00+00:00"),
            report(a, 201, "2026-11-02T09:02:00+00:00"),
            report(a, 201, "2026-11-02T09:02:00+00:00"),  # sent twice
            report(a, 113, "2026-11-02T09:01:30+00:00"),  # arrives after the final one
            report(b, 503),
            report(uuid4(), 201),
            report(account_id, 201),  # an id, but not a message's
            report("nope", 201),
            report(c, "DELIVRD"),
            report(c, 201, "2026-11-02T09:05:00"),  # no offset
            {"message_id": str(c), "status_code": 201},  # no time
        ]
    )
    assert [r["outcome"] for r in written.value] == [
        "applied",
        "applied",
        "duplicate",
        "superseded",
        "applied",
        "unknown_message",
        "unknown_message",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
    ]
    assert written.value[7]["message_id"] == "nope"
    assert written.position == ledger.recorder.max_notification_id()
    assert ledger.get_message(a).status == 201
    # 503: offline, the carrier keeps trying; not final.
    offline = ledger.get_message(b)
    assert (offline.status, offline.final) == (503, False)
    assert ledger.get_message(c).status == 111
    # The superseded report is in the history, the duplicate is not.
    kinds = [type(e).__name__ for e in history(ledger, a)]
    assert kinds.count("ReportApplied") == 2
    assert kinds.count("ReportSuperseded") == 1


def test_a_batch_of_only_repeats_writes_nothing(ledger: Ledger) -> None:
    _, (a,) = handed_off(ledger, 1)
    first = ledger.record_delivery_reports([report(a, 201)])
    head = ledger.recorder.max_notification_id()
    again = ledger.record_delivery_reports([report(a, 201), report(a, 201)])
    assert [r["outcome"] for r in again.value] == ["duplicate", "duplicate"]
    assert again.position is None
    assert first.position == head == ledger.recorder.max_notification_id()


def test_a_report_keeps_carrier_time_receive_time_and_raw_payload(
    ledger: Ledger, clock: FakeClock
) -> None:
    _, (a,) = handed_off(ledger, 1)
    clock.advance(hours=2)
    raw = {"stat": "DELIVRD", "err": "000", "submit date": "2611020900"}
    ledger.record_delivery_reports([report(a, 201, "2026-11-02T10:01:00+01:00", raw=raw)])
    event = history(ledger, a)[-1]
    assert type(event).__name__ == "ReportApplied"
    assert event.carrier_at == clock.now - timedelta(hours=2) + timedelta(minutes=1)
    assert event.timestamp == clock.now  # when the ledger received it
    assert (event.code, event.status, event.raw) == (201, 201, raw)


def test_code_outside_the_table_reads_599_until_a_final_report_corrects_it(
    ledger: Ledger,
) -> None:
    _, (a,) = handed_off(ledger, 1)
    [r] = ledger.record_delivery_reports([report(a, 777, "2026-11-02T09:01:00+00:00")]).value
    assert r["outcome"] == "applied"
    message = ledger.get_message(a)
    assert (message.status, message.final) == (599, True)
    stored = history(ledger, a)[-1]
    assert (stored.code, stored.status) == (777, 599)  # the raw code is kept
    # Another uninterpretable report changes nothing; an interpretable final one corrects.
    out = ledger.record_delivery_reports(
        [report(a, 42, "2026-11-02T09:02:00+00:00"), report(a, 201, "2026-11-02T09:03:00+00:00")]
    ).value
    assert [o["outcome"] for o in out] == ["superseded", "applied"]
    assert ledger.get_message(a).status == 201


def test_refunds_follow_the_policy(ledger: Ledger) -> None:
    account_id, (rejected, failed, delivered) = handed_off(ledger, 3)
    balance = ledger.get_account(account_id).balance
    ledger.record_delivery_reports(
        [report(rejected, 410), report(failed, 501), report(delivered, 201)]
    )
    # 4xx is refunded even after hand-off; a 5xx after hand-off and a delivery are not.
    assert ledger.get_message(rejected).refunded
    assert not ledger.get_message(failed).refunded
    assert not ledger.get_message(delivered).refunded
    assert ledger.get_account(account_id).balance == balance + 45


def test_report_before_any_hand_off_is_applied_from_funded(ledger: Ledger) -> None:
    # SMSLEDGER_GATEWAY=none: messages wait at Funded for reports posted to the API.
    account = ledger.open_account("Acme", payment_model="post_invoice").value
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=SE[:1], body="hi")
    mid = UUID(receipt.lines[0]["id"])
    ledger.record_delivery_reports([report(mid, 202)])
    message = ledger.get_message(mid)
    # A carrier reporting it means a gateway had it: Expired, and not refunded.
    assert (message.status, message.handed_off, message.refunded) == (202, True, False)


def test_a_511_report_on_a_message_never_handed_off_is_refunded(ledger: Ledger) -> None:
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 10_000, "t")
    receipt = ledger.send_batch(account.id, sender="Acme", recipients=SE[:3], body="hi")
    waiting, sending, noisy = (UUID(line["id"]) for line in receipt.lines)
    # One waits at Funded, one was submitted but no hand-off was ever recorded, and of
    # the third the carrier first sent an info report.
    ledger.start_sending([sending], ledger.now())
    charged = ledger.get_account(account.id).balance
    written = ledger.record_delivery_reports(
        [
            report(waiting, 511),
            report(sending, 511),
            report(noisy, 112, "2026-11-02T09:04:00+00:00"),
            report(noisy, 511),
        ]
    )
    assert [r["outcome"] for r in written.value] == ["applied"] * 4
    # 511 says no upstream gateway took it: no hand-off, so the price goes back (104).
    for mid in (waiting, sending, noisy):
        message = ledger.get_message(mid)
        assert (message.status, message.refunded) == (511, True)
        assert [type(e).__name__ for e in history(ledger, mid)][-1] == "Refunded"
    assert ledger.get_account(account.id).balance == charged + 3 * 45


def test_a_511_report_after_a_hand_off_is_not_refunded(ledger: Ledger) -> None:
    account_id, (mid,) = handed_off(ledger, 1)
    balance = ledger.get_account(account_id).balance
    ledger.record_delivery_reports([report(mid, 511)])
    message = ledger.get_message(mid)
    assert (message.status, message.refunded) == (511, False)
    assert ledger.get_account(account_id).balance == balance


def test_more_than_ten_thousand_reports_is_a_bad_request(ledger: Ledger) -> None:
    with pytest.raises(InvalidRequestError):
        ledger.record_delivery_reports([report(uuid4(), 201)] * 10_001)


def test_a_big_batch_loads_and_saves_at_once(ledger: Ledger) -> None:
    _, ids = handed_off(ledger, 20)
    reports = [report(m, code) for m in ids for code in (112, 113, 201)]
    written = ledger.record_delivery_reports(reports)
    assert {r["outcome"] for r in written.value} == {"applied"}
    assert all(m.status == 201 for m in ledger.get_messages(ids).values())
