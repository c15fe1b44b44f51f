"""The status table, its pipeline order and the refund policy."""

from __future__ import annotations

import pytest

from smsledger.domain.refunds import is_refund_due
from smsledger.domain.status import STATUS_CODES, Group, may_move, status


def test_table_has_every_code_of_domain_md_in_four_groups() -> None:
    # DOMAIN.md's prose says 31 codes; its table, which clients use, lists these 32.
    assert sorted(STATUS_CODES) == [
        101, 102, 103, 104, 110, 111, 112, 113, 114,
        201, 202, 203,
        402, 403, 404, 405, 406, 407, 408, 409, 410,
        500, 501, 502, 503, 511, 512, 513, 514, 515, 516, 599,
    ]  # fmt: skip
    groups = {s.group for s in STATUS_CODES.values()}
    assert groups == {Group.INFO, Group.SUCCESS, Group.REJECTION, Group.ERROR}
    assert all(
        s.group.value == {1: "Info", 2: "Success", 4: "Rejection", 5: "Error"}[s.code // 100]
        for s in STATUS_CODES.values()
    )


def test_info_codes_and_503_are_never_final_and_the_rest_are() -> None:
    not_final = {c for c, s in STATUS_CODES.items() if not s.final}
    assert not_final == {101, 102, 103, 104, 110, 111, 112, 113, 114, 503}


@pytest.mark.parametrize(
    ("code", "legacy"),
    [
        (201, "Delivered"),
        (111, "Sent"),
        (503, "Sent"),
        (501, "Wrong"),
        (599, "Wrong"),
        (101, None),
        (402, None),
    ],
)
def test_legacy_word(code: int, legacy: str | None) -> None:
    assert status(code).legacy == legacy


def test_status_object_matches_contract() -> None:
    assert status(201).as_dict() == {"code": 201, "name": "DeliveredToHandset", "group": "Success"}


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        (103, 110, True),
        (110, 111, True),
        (111, 113, True),
        (113, 112, False),  # backwards along the pipeline
        (113, 503, True),
        (503, 201, True),
        (201, 502, False),  # never leaves a final status
        (201, 599, False),
        (599, 201, True),  # 599 may be corrected by an interpretable final
        (599, 113, False),
        (599, 599, False),
        (111, 599, True),
    ],
)
def test_status_moves_forward_only(current: int, new: int, allowed: bool) -> None:
    assert may_move(current, new) is allowed


@pytest.mark.parametrize(
    ("code", "handed_off", "refunded"),
    [
        (402, False, True),
        (410, True, True),  # any 4xx after funding
        (203, False, True),
        (202, False, True),
        (202, True, False),
        (500, False, True),
        (500, True, False),
        (511, False, True),
        (502, True, False),
        (599, True, False),
        (201, True, False),
    ],
)
def test_refund_policy_table(code: int, handed_off: bool, refunded: bool) -> None:
    assert is_refund_due(code, handed_off=handed_off) is refunded
