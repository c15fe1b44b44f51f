"""The Message aggregate: one recipient's message, from acceptance to its final status.

It is accepted with every fact needed later (account, batch, text, price, validity),
so a report, an expiry or a refund never has to look anything else up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from eventsourcing.domain import Aggregate, event

from smsledger.domain.errors import AlreadyHandedOffError, ConflictError
from smsledger.domain.periods import period_of
from smsledger.domain.refunds import is_refund_due
from smsledger.domain.status import (
    ACCEPTED,
    CANCELED,
    DELIVERED_TO_GATEWAY,
    DELIVERY_TO_GATEWAY_FAILED,
    EXPIRED,
    FUNDED,
    REPORTABLE,
    SENDING,
    UNKNOWN,
    may_move,
    status,
)

if TYPE_CHECKING:
    from collections.abc import Container, Iterable
    from uuid import UUID

    from smsledger.domain.account import ChargedTo

ReportOutcome = Literal["applied", "duplicate", "superseded"]


class Message(Aggregate):
    TOPIC = "smsledger:Message"

    class Created(Aggregate.Created):
        TOPIC = "smsledger:Message.Created"

    @event("Accepted", topic="smsledger:Message.Accepted")
    def __init__(
        self,
        account_id: UUID,
        batch_id: UUID,
        sender: str,
        recipient: str,
        body: str,
        segments: int,
        encoding: str,
        unit_price: int,
        price: int,
        currency: str,
        timezone: str,
        validity_period: int,
        send_at: datetime | None,
        timestamp: datetime,
    ) -> None:
        self.account_id = account_id
        self.batch_id = batch_id
        self.sender = sender
        self.recipient = recipient
        self.body = body
        self.segments = segments
        self.encoding = encoding
        self.unit_price = unit_price
        self.price = price
        self.currency = currency
        self.timezone = timezone
        self.validity_period = validity_period
        self.send_at = send_at
        self.status = ACCEPTED
        self.charged_to: ChargedTo | None = None
        self.charge_period: str | None = None
        self.refunded = False
        self.handed_off = False
        self.hand_off_recorded = False  # a HandedOff event, not only a report
        self.gateway_ref: str | None = None
        self.report_keys: set[tuple[object, str]] = set()
        self.link_used_at: datetime | None = None  # its unsubscribe link was followed

    @classmethod
    def accept(
        cls,
        *,
        account_id: UUID,
        batch_id: UUID,
        sender: str,
        recipient: str,
        body: str,
        segments: int,
        encoding: str,
        unit_price: int,
        price: int,
        currency: str,
        timezone: str,
        validity_period: int,
        send_at: datetime | None,
        timestamp: datetime,
        id: UUID | None = None,
    ) -> Message:
        """``Message(...)``, for batches: the same ``Accepted`` event without the
        library's per-call argument coercion (about a third of constructing one).
        ``id``: given for a message with an unsubscribe link (derived from its token,
        ``smsledger.domain.unsubscribe``), else a random one."""
        return cls._create(
            cls.Accepted,  # type: ignore[attr-defined]
            id=id,
            account_id=account_id,
            batch_id=batch_id,
            sender=sender,
            recipient=recipient,
            body=body,
            segments=segments,
            encoding=encoding,
            unit_price=unit_price,
            price=price,
            currency=currency,
            timezone=timezone,
            validity_period=validity_period,
            send_at=send_at,
            timestamp=timestamp,
        )

    # --- derived facts -------------------------------------------------------------

    @property
    def final(self) -> bool:
        return status(self.status).final

    @property
    def charged(self) -> bool:
        return self.charged_to is not None

    @property
    def due_at(self) -> datetime:
        """When it may be handed to a gateway: ``send_at``, or at once."""
        return self.send_at or self.created_on

    @property
    def expires_at(self) -> datetime:
        """The end of its validity period, counted from when it is due."""
        return self.due_at + timedelta(seconds=self.validity_period)

    @property
    def refund_due(self) -> bool:
        """Final, charged, not yet refunded, and the refund policy says so.

        A report is taken as proof of hand-off (``handed_off``), except for 511: that
        report says no upstream gateway took the message, so for it only a hand-off the
        dispatcher recorded counts. Other reports around it do not decide, which keeps
        the refund the same whatever order the carrier's reports arrive in.
        """
        return refund_due(
            self.status,
            charged=self.charged_to is not None,
            refunded=self.refunded,
            handed_off=self.handed_off,
            hand_off_recorded=self.hand_off_recorded,
        )

    # --- acceptance and funding ----------------------------------------------------

    @event("Rejected", topic="smsledger:Message.Rejected")
    def reject(self, code: int, detail: str, timestamp: datetime) -> None:
        """Give the message the 4xx status of the rule it failed; it costs nothing."""
        self.status = code

    def fund(self, charged_to: ChargedTo, timestamp: datetime) -> None:
        if self.charged or self.status != ACCEPTED:
            msg = f"message {self.id} cannot be funded at status {self.status}"
            raise ConflictError(msg)
        # The event class directly rather than through ``_funded(...)``: the decorator
        # coerces the arguments on every call, about 9 us, two thirds of funding a
        # message, and a batch funds up to 10,000. Same event, same mutator.
        self.trigger_event(
            self.Funded,  # type: ignore[attr-defined]
            charged_to=charged_to,
            period=period_of(timestamp, self.timezone),
            timestamp=timestamp,
        )

    @event("Funded", topic="smsledger:Message.Funded")
    def _funded(self, charged_to: ChargedTo, period: str, timestamp: datetime) -> None:
        self.charged_to = charged_to
        self.charge_period = period
        self.status = FUNDED

    def refund(self, timestamp: datetime) -> None:
        """Return the price to where the charge went, at most once."""
        if not self.refund_due:
            msg = f"message {self.id} is not due a refund"
            raise ConflictError(msg)
        assert self.charged_to is not None
        self._refunded(self.price, self.charged_to, period_of(timestamp, self.timezone), timestamp)

    @event("Refunded", topic="smsledger:Message.Refunded")
    def _refunded(
        self, amount: int, refunded_to: ChargedTo, period: str, timestamp: datetime
    ) -> None:
        self.refunded = True

    # --- hand-off to a gateway -------------------------------------------------------

    def reject_at_hand_off(self, code: int, detail: str, timestamp: datetime) -> None:
        """A rule that no longer holds just before hand-off (its recipient was blocked
        since it was accepted): the 4xx status, and the refund policy gives the price
        back (every 4xx is refunded)."""
        if self.status != FUNDED or self.handed_off:
            msg = f"message {self.id} cannot be rejected at status {self.status}"
            raise ConflictError(msg)
        self.reject(code, detail, timestamp)

    def may_hand_off(self, now: datetime) -> bool:
        """Funded, due, and its validity period not yet over."""
        return self.status == FUNDED and self.due_at <= now < self.expires_at

    @event("Sending", topic="smsledger:Message.Sending")
    def start_sending(self, timestamp: datetime) -> None:
        self.status = SENDING

    def hand_off(self, gateway_ref: str, timestamp: datetime) -> None:
        if self.handed_off:
            return
        self._handed_off(gateway_ref, timestamp)

    @event("HandedOff", topic="smsledger:Message.HandedOff")
    def _handed_off(self, gateway_ref: str, timestamp: datetime) -> None:
        self.handed_off = True
        self.hand_off_recorded = True
        self.gateway_ref = gateway_ref
        if may_move(self.status, DELIVERED_TO_GATEWAY):
            self.status = DELIVERED_TO_GATEWAY

    @event("HandOffFailed", topic="smsledger:Message.HandOffFailed")
    def fail_hand_off(self, detail: str, timestamp: datetime) -> None:
        self.status = DELIVERY_TO_GATEWAY_FAILED

    # --- delivery reports -------------------------------------------------------------

    def record_report(
        self, code: object, carrier_at: datetime, raw: object, timestamp: datetime
    ) -> ReportOutcome:
        """Apply a carrier's report: its status if it moves the message forward,
        else keep it in the history as superseded. A repeat changes nothing.
        """
        outcome, interpreted = judge_report(
            self.status, self.report_keys, code, carrier_at.isoformat()
        )
        if outcome == "duplicate":
            return outcome
        # The event class directly, as in ``fund``: a report batch records up to 10,000.
        self.trigger_event(
            self.ReportApplied if outcome == "applied" else self.ReportSuperseded,  # type: ignore[attr-defined]
            code=code,
            status=interpreted,
            carrier_at=carrier_at,
            raw=raw,
            timestamp=timestamp,
        )
        return outcome

    @event("ReportApplied", topic="smsledger:Message.ReportApplied")
    def _report_applied(
        self,
        code: object,
        status: int,
        carrier_at: datetime,
        raw: object,
        timestamp: datetime,
    ) -> None:
        self.report_keys.add((code, carrier_at.isoformat()))
        self.status = status
        # A report means a gateway has it, whatever the dispatcher managed to record.
        self.handed_off = True

    @event("ReportSuperseded", topic="smsledger:Message.ReportSuperseded")
    def _report_superseded(
        self,
        code: object,
        status: int,
        carrier_at: datetime,
        raw: object,
        timestamp: datetime,
    ) -> None:
        self.report_keys.add((code, carrier_at.isoformat()))

    # --- the unsubscribe link (``smsledger.domain.unsubscribe``) -------------------------

    def use_unsubscribe_link(self, timestamp: datetime) -> None:
        """Record that the recipient followed this message's link and opted out; once."""
        if self.link_used_at is not None:
            msg = f"the unsubscribe link of message {self.id} was already used"
            raise ConflictError(msg)
        self._link_used(timestamp)

    @event("UnsubscribeLinkUsed", topic="smsledger:Message.UnsubscribeLinkUsed")
    def _link_used(self, timestamp: datetime) -> None:
        self.link_used_at = timestamp

    # --- cancel and expiry ------------------------------------------------------------

    def cancel(self, timestamp: datetime) -> None:
        """Cancel before hand-off; afterwards it is a conflict that changes nothing."""
        if self.handed_off or self.status == SENDING:
            msg = f"message {self.id} has been handed to a gateway and cannot be canceled"
            raise AlreadyHandedOffError(msg)
        if self.final:
            msg = f"message {self.id} is already final ({self.status})"
            raise ConflictError(msg)
        self._canceled(timestamp)

    @event("Canceled", topic="smsledger:Message.Canceled")
    def _canceled(self, timestamp: datetime) -> None:
        self.status = CANCELED

    def expire(self, timestamp: datetime) -> None:
        """Its validity period ended before hand-off: 202 Expired."""
        if self.final or self.handed_off:
            msg = f"message {self.id} cannot expire at status {self.status}"
            raise ConflictError(msg)
        self._expired(timestamp)

    @event("Expired", topic="smsledger:Message.Expired")
    def _expired(self, timestamp: datetime) -> None:
        self.status = EXPIRED

    def give_up(self, timestamp: datetime) -> None:
        """Handed off, but no final report by the end of validity plus grace: 599."""
        if self.final or not self.handed_off:
            msg = f"message {self.id} cannot become Unknown at status {self.status}"
            raise ConflictError(msg)
        self._gave_up(timestamp)

    @event("NoReceipt", topic="smsledger:Message.NoReceipt")
    def _gave_up(self, timestamp: datetime) -> None:
        self.status = UNKNOWN


def judge_report(
    current: int, seen: Container[tuple[object, str]], code: object, carrier_at: str
) -> tuple[ReportOutcome, int]:
    """What a carrier's report does to a message at status ``current`` that has seen the
    reports ``seen`` (``(code, carrier time as isoformat)`` pairs): its outcome, and the
    status it records (an uninterpretable code reads 599 Unknown). ``duplicate``: the
    same code at the same time was seen before, and nothing is recorded."""
    if (code, carrier_at) in seen:
        return "duplicate", current
    interpreted = code if isinstance(code, int) and code in REPORTABLE else UNKNOWN
    return ("applied" if may_move(current, interpreted) else "superseded"), interpreted


def refund_due(
    current: int, *, charged: bool, refunded: bool, handed_off: bool, hand_off_recorded: bool
) -> bool:
    """``Message.refund_due`` from the facts it reads: final, charged, not yet refunded,
    and the refund policy says so (for 511 only a recorded hand-off counts)."""
    return (
        status(current).final
        and charged
        and not refunded
        and is_refund_due(
            current,
            handed_off=hand_off_recorded if current == DELIVERY_TO_GATEWAY_FAILED else handed_off,
        )
    )


def refund_all_due(
    messages: Iterable[Message], now: datetime
) -> dict[UUID, list[tuple[UUID, int]]]:
    """Refund every message the policy says to (``Message.refund_due``), at ``now``.

    Returns what the accounts must give back, by account: the balance-charged messages'
    ids and prices. An invoice-charged refund moves no balance; the invoice shows it.
    """
    by_account: dict[UUID, list[tuple[UUID, int]]] = {}
    for message in messages:
        if message.refund_due:
            message.refund(now)
            if message.charged_to == "balance":
                by_account.setdefault(message.account_id, []).append((message.id, message.price))
    return by_account


__all__ = [
    "FUNDED",
    "Message",
    "ReportOutcome",
    "judge_report",
    "refund_all_due",
    "refund_due",
]
