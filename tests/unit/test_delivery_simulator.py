"""The carrier simulator's plans and the report parser, without a database."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from smsledger.adapters.simulator import (
    OUT_OF_TABLE_CODES,
    Faults,
    OutcomeMix,
    Replies,
    SimulatorConfig,
    parse_knobs,
    plan,
    plan_reply,
)
from smsledger.domain.reports import parse_report
from smsledger.domain.status import STATUS_CODES

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=72)
IDS = [uuid.UUID(int=i * 7919 + 1) for i in range(400)]


def test_a_messages_fate_depends_on_seed_and_id_only() -> None:
    config = SimulatorConfig(seed=7)
    forwards = {m: plan(config, m, NOW, EXPIRES) for m in IDS}
    backwards = {m: plan(config, m, NOW, EXPIRES) for m in reversed(IDS)}
    assert forwards == backwards
    other_seed = {m: plan(SimulatorConfig(seed=8), m, NOW, EXPIRES) for m in IDS}
    assert other_seed != forwards


def test_default_mix_gives_every_outcome_and_fault() -> None:
    config = SimulatorConfig(seed=1)
    plans = [plan(config, m, NOW, EXPIRES) for m in IDS]
    outcomes = Counter(p.outcome for p in plans)
    assert set(outcomes) == {
        "delivered",
        "offline_then_delivered",
        "offline_then_expired",
        "unknown_subscriber",
        "no_sms_subscription",
        "carrier_rejection",
        "gateway_failure",
    }
    assert outcomes.most_common(1)[0][0] == "delivered"
    notes = Counter(r.note for p in plans for r in p.reports)
    assert {"duplicate", "out of order", "late", "out of table"} <= set(notes)


def test_reports_follow_the_pipeline_and_latencies_scale_with_speed() -> None:
    only_delivered = SimulatorConfig(mix=OutcomeMix(1, 0, 0, 0, 0, 0, 0), faults=Faults(0, 0, 0, 0))
    p = plan(only_delivered, IDS[0], NOW, EXPIRES)
    assert [r.code for r in p.reports] == [112, 113, 201]
    assert all(r.due_at > r.at > NOW for r in p.reports)
    fast = SimulatorConfig(speed=10, mix=OutcomeMix(1, 0, 0, 0, 0, 0, 0), faults=Faults(0, 0, 0, 0))
    q = plan(fast, IDS[0], NOW, EXPIRES)
    slow, quick = (p.reports[-1].due_at - NOW), (q.reports[-1].due_at - NOW)
    assert abs(quick * 10 - slow) < timedelta(milliseconds=1)


def test_without_faults_every_report_arrives_after_the_one_before() -> None:
    # A report delayed longer than the next step's hop must not overtake it: arriving
    # out of order is the out_of_order fault's, not the latencies'. (A dispatcher test
    # saw 112 arrive after 113 and be superseded, about once in a hundred runs.)
    clean = SimulatorConfig(faults=Faults(0, 0, 0, 0))
    for m in IDS:
        reports = plan(clean, m, NOW, EXPIRES).reports
        assert [r.due_at for r in reports] == sorted(r.due_at for r in reports)
        assert [r.at for r in reports] == sorted(r.at for r in reports)
    # With the fault, some do arrive swapped.
    swapped = SimulatorConfig(faults=Faults(0, 1, 0, 0))
    assert any(
        [r.due_at for r in plan(swapped, m, NOW, EXPIRES).reports]
        != sorted(r.due_at for r in plan(swapped, m, NOW, EXPIRES).reports)
        for m in IDS
    )


def test_offline_then_expired_reports_202_at_the_end_of_validity() -> None:
    config = SimulatorConfig(mix=OutcomeMix(0, 0, 1, 0, 0, 0, 0), faults=Faults(0, 0, 0, 0))
    p = plan(config, IDS[3], NOW, EXPIRES)
    assert [r.code for r in p.reports] == [112, 503, 202]
    assert p.reports[-1].at == EXPIRES


def test_out_of_table_codes_are_outside_the_table() -> None:
    assert not set(OUT_OF_TABLE_CODES) & set(STATUS_CODES)


def test_knobs_parse_from_text() -> None:
    assert parse_knobs(OutcomeMix, "delivered=1") == OutcomeMix(1, 0, 0, 0, 0, 0, 0)
    assert parse_knobs(Faults, "duplicate=0.5").duplicate == 0.5
    assert parse_knobs(Faults, "") == Faults()
    with pytest.raises(ValueError, match="unknown simulator knob"):
        parse_knobs(Faults, "nonsense=1")


MID = "7f3c8a0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.mark.parametrize(
    "report",
    [
        {"message_id": "not-a-uuid", "status_code": 201, "at": "2026-11-02T09:00:00+00:00"},
        {"status_code": 201, "at": "2026-11-02T09:00:00+00:00"},
        {"message_id": MID, "status_code": "201", "at": "2026-11-02T09:00:00+00:00"},
        {"message_id": MID, "status_code": 201.0, "at": "2026-11-02T09:00:00+00:00"},
        {"message_id": MID, "status_code": True, "at": "2026-11-02T09:00:00+00:00"},
        {"message_id": MID, "status_code": None, "at": "2026-11-02T09:00:00+00:00"},
        {"message_id": MID, "status_code": 201},
        {"message_id": MID, "status_code": 201, "at": "2026-11-02T09:00:00"},  # naive
        {"message_id": MID, "status_code": 201, "at": "yesterday"},
        {"message_id": MID, "status_code": 201, "at": "2026-11-02T09:00Z", "raw": {"_type_": 1}},
        {"message_id": MID, "status_code": 201, "at": "2026-11-02T09:00Z", "raw": "\ud800"},
        {"message_id": MID, "status_code": 201, "at": "2026-11-02T09:00Z", "raw": 2**70},
        {"message_id": MID, "status_code": 2**70, "at": "2026-11-02T09:00Z"},
        "not even a mapping",
    ],
)
def test_malformed_reports_are_invalid(report: object) -> None:
    assert parse_report(report) is None


def test_a_report_keeps_its_raw_payload_and_reads_its_time_as_one_instant() -> None:
    p = parse_report(
        {
            "message_id": MID,
            "status_code": 777,
            "at": "2026-11-02T10:00:00+01:00",
            "raw": {"a": [1]},
        }
    )
    assert p is not None
    assert (p.code, p.at, p.raw) == (777, NOW, {"a": [1]})
    bare = parse_report({"message_id": MID, "status_code": 201, "at": "2026-11-02T09:00:00Z"})
    assert bare is not None
    assert bare.raw == {"message_id": MID, "status_code": 201, "at": "2026-11-02T09:00:00Z"}


def test_replies_depend_on_seed_and_id_and_are_rare_by_default() -> None:
    config = SimulatorConfig(seed=7)
    many = [uuid.UUID(int=i * 104729 + 3) for i in range(5000)]
    fates = {m: plan(config, m, NOW, EXPIRES) for m in many}
    replies = {m: plan_reply(config, m, fates[m]) for m in many}
    assert replies == {m: plan_reply(config, m, fates[m]) for m in reversed(many)}
    bodies = Counter(
        "STOP" if r.body == "STOP" else "Save" for r in replies.values() if r is not None
    )
    delivered = sum(f.outcome in ("delivered", "offline_then_delivered") for f in fates.values())
    # About 1% of the delivered reply STOP and 1% Save: rare, never none in 5,000.
    assert 0.5 * 0.01 * delivered < bodies["STOP"] < 2 * 0.01 * delivered
    assert 0.5 * 0.01 * delivered < bodies["Save"] < 2 * 0.01 * delivered
    for m, r in replies.items():
        if r is None:
            continue
        # Only a delivered message is answered, after it was delivered.
        assert fates[m].outcome in ("delivered", "offline_then_delivered")
        assert r.at > max(p.at for p in fates[m].reports if p.code == 201)
        assert r.due_at >= r.at
        assert r.body == "STOP" or r.body.lower().startswith("save ")
    # Replies never change a message's fate, and can be switched off.
    off = SimulatorConfig(seed=7, replies=parse_knobs(Replies, "stop=0,save=0"))
    assert {m: plan(off, m, NOW, EXPIRES) for m in many} == fates
    assert all(plan_reply(off, m, fates[m]) is None for m in many)
