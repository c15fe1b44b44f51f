"""Virtual numbers: who holds a number, from when until when.

A number is held by one account at a time, across every account of the platform. The
rule is kept by the event store itself: a ``NumberClaim`` aggregate per number, its id
derived from the number (``claim_id_for``), is created in the same transaction as the
virtual-number add-on that claims it. Two accounts claiming a free number at once both
try to create version 1 of the same aggregate; the store lets one in and the other's
whole transaction (its add-on included) conflicts: 409 "number taken". A claim on a
number held before is version N+1 of the same aggregate, so the same holds.

When the add-on is given notice, its end is known (``AddOn.ends_on``): the number is
released at that instant (a ``Released`` event, written with the notice), after which
another account, or the same one, may claim it again. Inbound SMS are routed to the
account that held the number at the SMS's own time (``holder_at``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import Aggregate, event

from smsledger.domain.addressing import normalise_msisdn
from smsledger.domain.errors import ConflictError, InvalidRecipientError

if TYPE_CHECKING:
    from collections.abc import Iterator

_CLAIMS = uuid.UUID("5b1e0f47-3c2a-4d8e-9a61-7f0e2c4b8d93")
_RANGE = re.compile(r"\s*(\+?[0-9]{2,15})\s*-\s*(\+?[0-9]{2,15})\s*")
MAX_RANGE_SIZE = 10_000_000

DEFAULT_NUMBER_RANGE = "+46701740605-+46701740699"
"""The simulator's own numbers: the 95 Swedish mobile numbers PTS reserves for fiction
and tests (070-174 06 05 to 070-174 06 99), so a number the embedded default hands out
is never a real subscriber's."""


class NumberTakenError(ConflictError):
    """The number is another account's (or no number of the range is left): 409."""


def claim_id_for(number: str) -> uuid.UUID:
    """The claim of a normalised (E.164) number: one aggregate per number, ever."""
    return uuid.uuid5(_CLAIMS, number)


@dataclass(frozen=True, slots=True)
class NumberRange:
    """A contiguous range of E.164 numbers of one length, ``first`` to ``last``."""

    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> NumberRange:
        """``+46701740605-+46701740699``: both ends valid numbers of one length, first
        not after last. ``ValueError`` otherwise (a setting, read at start)."""
        match = _RANGE.fullmatch(text)
        if match is None:
            msg = f"a number range is FIRST-LAST in E.164 (+46701740605-+46701740699), got {text!r}"
            raise ValueError(msg)
        try:
            first, last = (normalise_msisdn(match.group(i)) for i in (1, 2))
        except InvalidRecipientError as e:
            raise ValueError(str(e)) from None
        if len(first) != len(last) or int(first[1:]) > int(last[1:]):
            msg = f"a number range needs two ends of one length, first not after last: {text!r}"
            raise ValueError(msg)
        if int(last[1:]) - int(first[1:]) >= MAX_RANGE_SIZE:
            msg = f"a number range holds at most {MAX_RANGE_SIZE:,} numbers"
            raise ValueError(msg)
        return cls(int(first[1:]), int(last[1:]))

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def candidates(self, hint: uuid.UUID) -> Iterator[str]:
        """Every number of the range once, starting at a place ``hint`` picks, so that
        accounts ordering at once mostly try different numbers (fewer conflicts) and
        one account's retry tries the same ones in the same order."""
        start = hint.int % self.size
        for i in range(self.size):
            yield f"+{self.first + (start + i) % self.size}"


class NumberClaim(Aggregate):
    """Who held one number, and when: ``holds`` is ``[account, add-on, from, until]``
    per claim, in order, ``until`` ``None`` while it lasts."""

    TOPIC = "smsledger:NumberClaim"

    class Created(Aggregate.Created):
        TOPIC = "smsledger:NumberClaim.Created"

    @event("Claimed", topic="smsledger:NumberClaim.Claimed")
    def __init__(
        self,
        id: uuid.UUID,
        number: str,
        account_id: uuid.UUID,
        add_on_id: uuid.UUID,
        timestamp: datetime,
    ) -> None:
        self.number = number
        self.holds: list[list[str | None]] = [
            [account_id.hex, add_on_id.hex, timestamp.isoformat(), None]
        ]

    @classmethod
    def first_claim(
        cls, number: str, account_id: uuid.UUID, add_on_id: uuid.UUID, timestamp: datetime
    ) -> NumberClaim:
        return cls(
            id=claim_id_for(number),
            number=number,
            account_id=account_id,
            add_on_id=add_on_id,
            timestamp=timestamp,
        )

    def _hold_at(self, at: datetime) -> list[str | None] | None:
        for hold in reversed(self.holds):
            since, until = hold[2], hold[3]
            assert since is not None
            if datetime.fromisoformat(since) <= at and (
                until is None or at < datetime.fromisoformat(until)
            ):
                return hold
        return None

    def holder_at(self, at: datetime) -> uuid.UUID | None:
        """The account that held the number at ``at``, or ``None``."""
        hold = self._hold_at(at)
        return None if hold is None or hold[0] is None else uuid.UUID(hold[0])

    def held_by_add_on(self, add_on_id: uuid.UUID, at: datetime) -> bool:
        hold = self._hold_at(at)
        return hold is not None and hold[1] == add_on_id.hex

    def is_free_at(self, at: datetime) -> bool:
        """Nobody holds it at ``at``, and no hold starts later (the last one has ended
        by then)."""
        last = self.holds[-1][3] if self.holds else None
        return not self.holds or (last is not None and datetime.fromisoformat(last) <= at)

    def claim(self, account_id: uuid.UUID, add_on_id: uuid.UUID, timestamp: datetime) -> bool:
        """Hold the number from ``timestamp`` for the add-on; ``False`` if that add-on
        holds it already (an order retried), ``NumberTakenError`` if anyone else does."""
        if self.held_by_add_on(add_on_id, timestamp):
            return False
        if not self.is_free_at(timestamp):
            msg = f"number {self.number} is taken"
            raise NumberTakenError(msg)
        self._reclaimed(account_id, add_on_id, timestamp)
        return True

    @event("Reclaimed", topic="smsledger:NumberClaim.Reclaimed")
    def _reclaimed(self, account_id: uuid.UUID, add_on_id: uuid.UUID, timestamp: datetime) -> None:
        self.holds.append([account_id.hex, add_on_id.hex, timestamp.isoformat(), None])

    def release(self, add_on_id: uuid.UUID, at: datetime, timestamp: datetime) -> bool:
        """The add-on's hold ends at ``at`` (its end); ``False`` if it is not the
        add-on's hold, or its end is already set."""
        hold = self.holds[-1] if self.holds else None
        if hold is None or hold[1] != add_on_id.hex or hold[3] is not None:
            return False
        self._released(add_on_id, at, timestamp)
        return True

    @event("Released", topic="smsledger:NumberClaim.Released")
    def _released(self, add_on_id: uuid.UUID, released_at: datetime, timestamp: datetime) -> None:
        self.holds[-1][3] = released_at.isoformat()
