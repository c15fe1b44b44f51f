"""Add-ons and their fees: a virtual number (995 SEK a year) and an unsubscribe link
(495 SEK a year), each with a 12-month commitment and a 3-month notice.

Dates are calendar dates in the account's time zone. A fee falls due on the start date
and on each anniversary before the add-on ends; it is an invoice line of kind ``fee`` on
that month's invoice, whatever the payment model. A post-invoicing subscription
includes both add-ons: their fees are then 0, shown as included. Which applies is
decided on each due date by the payment model of that day, so switching model mid-term
changes the next anniversary's fee, never one already charged.

Notice: given on day N, the add-on ends on ``max(commitment end, N + 3 months)``; the
fees of every year that starts before that day are owed.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import date
from typing import TYPE_CHECKING, Literal

from eventsourcing.domain import Aggregate, event

from smsledger.domain.errors import ConflictError, InvalidRequestError

if TYPE_CHECKING:
    from datetime import datetime

AddOnKind = Literal["virtual_number", "unsubscribe_link"]
ADD_ON_KINDS: tuple[AddOnKind, ...] = ("virtual_number", "unsubscribe_link")
PRICE_PER_YEAR: dict[tuple[AddOnKind, str], int] = {
    ("virtual_number", "SEK"): 99_500,  # öre
    ("unsubscribe_link", "SEK"): 49_500,
}
COMMITMENT_MONTHS = 12
NOTICE_MONTHS = 3
_ADD_ONS = uuid.UUID("2f0c8a55-1d7e-4b8e-a0f3-6b2d9c4e7a10")
DESCRIPTION: dict[AddOnKind, str] = {
    "virtual_number": "Virtual number",
    "unsubscribe_link": "Unsubscribe link",
}


def check_kind(kind: object) -> AddOnKind:
    for known in ADD_ON_KINDS:
        if kind == known:
            return known
    msg = f"kind must be one of {', '.join(ADD_ON_KINDS)}, got {kind!r}"
    raise InvalidRequestError(msg)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, kept within the month: 31 January + 1 month is
    28 (or 29) February, 29 February + 12 months is 28 February."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def commitment_end(started_on: date) -> date:
    return add_months(started_on, COMMITMENT_MONTHS)


def end_after_notice(started_on: date, notice_on: date) -> date:
    """The last day's successor: the add-on runs until (not including) this date."""
    return max(commitment_end(started_on), add_months(notice_on, NOTICE_MONTHS))


def due_dates(started_on: date, ends_on: date | None, through: date) -> list[date]:
    """Every fee date from the start up to ``through`` (inclusive), before ``ends_on``."""
    out: list[date] = []
    years = 0
    while True:
        due = add_months(started_on, 12 * years)
        if due > through or (ends_on is not None and due >= ends_on):
            return out
        out.append(due)
        years += 1


def add_on_id_for(account_id: uuid.UUID, kind: str, started_on: date) -> uuid.UUID:
    """One add-on of a kind per account and start date: an order retried is the same."""
    return uuid.uuid5(_ADD_ONS, f"{account_id}/{kind}/{started_on.isoformat()}")


class AddOn(Aggregate):
    TOPIC = "smsledger:AddOn"

    class Created(Aggregate.Created):
        TOPIC = "smsledger:AddOn.Created"

    @event("Ordered", topic="smsledger:AddOn.Ordered")
    def __init__(
        self,
        id: uuid.UUID,
        account_id: uuid.UUID,
        kind: AddOnKind,
        number: str | None,
        price_per_year: int,
        currency: str,
        started_on: str,
        timezone: str,
        timestamp: datetime,
    ) -> None:
        self.account_id = account_id
        self.kind: AddOnKind = kind
        self.number = number
        self.price_per_year = price_per_year
        self.currency = currency
        self.started_on = started_on
        self.timezone = timezone
        self.notice_given_on: str | None = None
        self.ends_on: str | None = None
        self.fees: dict[str, int] = {}  # due date -> amount charged (0: included)

    @classmethod
    def order(
        cls,
        account_id: uuid.UUID,
        kind: str,
        number: str | None,
        currency: str,
        started_on: date,
        timezone: str,
        timestamp: datetime,
    ) -> AddOn:
        checked = check_kind(kind)
        price = PRICE_PER_YEAR.get((checked, currency))
        if price is None:
            msg = f"no price for a {checked} in {currency}"
            raise InvalidRequestError(msg)
        return cls(
            id=add_on_id_for(account_id, checked, started_on),
            account_id=account_id,
            kind=checked,
            number=number,
            price_per_year=price,
            currency=currency,
            started_on=started_on.isoformat(),
            timezone=timezone,
            timestamp=timestamp,
        )

    @property
    def start(self) -> date:
        return date.fromisoformat(self.started_on)

    @property
    def commitment_ends_on(self) -> date:
        return commitment_end(self.start)

    def active_on(self, day: date) -> bool:
        ends = None if self.ends_on is None else date.fromisoformat(self.ends_on)
        return self.start <= day and (ends is None or day < ends)

    def give_notice(self, notice_on: date, timestamp: datetime) -> bool:
        """Notice given on ``notice_on``; ``False`` if it was given before."""
        if self.notice_given_on is not None:
            return False
        if notice_on < self.start:
            msg = "notice cannot be given before the add-on starts"
            raise ConflictError(msg)
        ends = end_after_notice(self.start, notice_on)
        self._notice_given(notice_on.isoformat(), ends.isoformat(), timestamp)
        return True

    @event("NoticeGiven", topic="smsledger:AddOn.NoticeGiven")
    def _notice_given(self, notice_given_on: str, ends_on: str, timestamp: datetime) -> None:
        self.notice_given_on = notice_given_on
        self.ends_on = ends_on

    def charge_due_fees(self, today: date, included: bool, timestamp: datetime) -> list[str]:
        """Record every fee due up to ``today`` not yet charged; ``included`` (a
        post-invoicing subscription today) makes them 0. The due dates charged now."""
        ends = date.fromisoformat(self.ends_on) if self.ends_on else None
        charged: list[str] = []
        for due in due_dates(self.start, ends, today):
            key = due.isoformat()
            if key in self.fees:
                continue
            amount = 0 if included else self.price_per_year
            period = f"{due.year:04d}-{due.month:02d}"
            self._fee_charged(
                self.account_id, self.kind, key, period, amount, self.currency, timestamp
            )
            charged.append(key)
        return charged

    @event("FeeCharged", topic="smsledger:AddOn.FeeCharged")
    def _fee_charged(
        self,
        account_id: uuid.UUID,
        kind: AddOnKind,
        due_on: str,
        period: str,
        amount: int,
        currency: str,
        timestamp: datetime,
    ) -> None:
        """``period``: the invoice month of ``due_on``; the account and kind ride along
        so that the invoice and reconciliation read the fee from this event alone."""
        self.fees[due_on] = amount
