"""What a report does to a message, and whether it ends refunded: the domain's two pure
rules that ``Message`` and the plain-row report path (``bulk_reports``) both call."""

from __future__ import annotations

import pytest

from smsledger.domain.message import judge_report, refund_due

AT = "2026-11-02T09:05:00+00:00"


def test_a_report_seen_before_is_a_duplicate_and_records_nothing() -> None:
    assert judge_report(111, {(201, AT)}, 201, AT) == ("duplicate", 111)
    # The same code at another time is a new report.
    assert judge_report(111, {(201, AT)}, 201, "2026-11-02T09:06:00+00:00") == ("applied", 201)


def test_a_report_that_moves_the_message_forward_is_applied() -> None:
    assert judge_report(111, set(), 112, AT) == ("applied", 112)
    assert judge_report(111, set(), 201, AT) == ("applied", 201)


def test_a_late_or_final_blocked_report_is_superseded_with_its_own_status() -> None:
    assert judge_report(113, set(), 112, AT) == ("superseded", 112)
    assert judge_report(201, set(), 501, AT) == ("superseded", 501)


@pytest.mark.parametrize("code", [777, -3, 101, 104, "DELIVRD"])
def test_an_uninterpretable_code_reads_599_unknown(code: object) -> None:
    assert judge_report(111, set(), code, AT) == ("applied", 599)


def test_599_is_corrected_by_a_later_interpretable_final_report() -> None:
    assert judge_report(599, set(), 201, AT) == ("applied", 201)


@pytest.mark.parametrize(
    ("status", "handed_off", "recorded", "due"),
    [
        (410, True, True, True),  # every 4xx is refunded
        (201, False, False, False),  # delivered: never
        (202, False, False, True),  # expired before hand-off
        (202, True, True, False),
        (501, False, False, False),  # other 5xx never
        (511, True, False, True),  # a 511 report: only a recorded hand-off counts
        (511, True, True, False),
        (503, False, False, False),  # not final
    ],
)
def test_refund_due_follows_the_policy(
    status: int, handed_off: bool, recorded: bool, due: bool
) -> None:
    assert (
        refund_due(
            status, charged=True, refunded=False, handed_off=handed_off, hand_off_recorded=recorded
        )
        is due
    )


def test_no_refund_for_an_uncharged_or_already_refunded_message() -> None:
    for charged, refunded in ((False, False), (True, True)):
        assert not refund_due(
            410, charged=charged, refunded=refunded, handed_off=True, hand_off_recorded=True
        )
