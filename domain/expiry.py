"""What time alone decides about one message: the sweep decision.

* funded, never handed off, validity over (``now >= expires_at``): 202 Expired;
* handed off, no final report by ``expires_at + grace``: 599 Unknown (no receipt);
* stuck at Sending (110) that long: only the gateway knows whether it has it. Asked, and
  it has (a reference): handed off, then 599; it has not (``None``): never sent, 202.
  Not asked: left alone.

Refunds follow from the final status (``smsledger.domain.refunds``), not from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from smsledger.domain.status import FUNDED, SENDING

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from smsledger.domain.message import Message

SweepOutcome = Literal["expired", "gave_up"]


class _NotAsked:
    """The gateway was not asked about a message stuck at Sending."""

    def __repr__(self) -> str:
        return "NOT_ASKED"


NOT_ASKED: Final = _NotAsked()


def sweep_message(
    message: Message,
    now: datetime,
    grace: timedelta,
    gateway_ref: str | _NotAsked | None = NOT_ASKED,
) -> SweepOutcome | None:
    """Expire or give up on ``message`` if time says so; what was done, or ``None``."""
    if message.final:
        return None
    if message.status == FUNDED and now >= message.expires_at:
        message.expire(now)
        return "expired"
    if now < message.expires_at + grace:
        return None
    if message.status == SENDING and not message.handed_off:
        if isinstance(gateway_ref, _NotAsked):
            return None
        if gateway_ref is None:
            message.expire(now)
            return "expired"
        message.hand_off(gateway_ref, now)
    if message.handed_off:
        message.give_up(now)
        return "gave_up"
    return None
