"""The one refund policy: which final statuses give a message's price back.

A message is refunded when it never reached an upstream gateway; once it has been
handed off (111 onward) the carrier's cost is real and later failures are not refunded.
A carrier's report counts as proof of hand-off, except a 511 report: it says no upstream
gateway took the message, so only a hand-off the dispatcher recorded keeps it from a
refund (``Message.refund_due``).
"""

from __future__ import annotations

from enum import StrEnum

from smsledger.domain.status import Group, status


class Refund(StrEnum):
    ALWAYS = "always"
    BEFORE_HANDOFF = "before_handoff"
    NEVER = "never"


REFUND_POLICY: dict[int, Refund] = {
    201: Refund.NEVER,
    202: Refund.BEFORE_HANDOFF,
    203: Refund.ALWAYS,  # only possible before hand-off; cancel after it is a conflict
    500: Refund.BEFORE_HANDOFF,
    511: Refund.BEFORE_HANDOFF,
}
"""Exceptions to the group defaults below: every 4xx is refunded, other 5xx never."""


def refund_rule(code: int) -> Refund:
    """The refund rule for a final status code."""
    if code in REFUND_POLICY:
        return REFUND_POLICY[code]
    if status(code).group is Group.REJECTION:
        return Refund.ALWAYS
    return Refund.NEVER


def is_refund_due(code: int, *, handed_off: bool) -> bool:
    """Whether a funded message that ends in ``code`` gets its price back."""
    rule = refund_rule(code)
    return rule is Refund.ALWAYS or (rule is Refund.BEFORE_HANDOFF and not handed_off)
