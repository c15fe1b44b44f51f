"""Sending a batch: the request's shape, and what one send makes of an account.

``plan_batch`` is the decision of a send: one message per recipient, each accepted
with every fact it needs later, priced, and then either funded (in recipient order,
while the account can pay) or rejected with the 4xx status of the rule it failed; the
account's charge for the funded ones; and the ``Batch`` that keeps the answer. It
changes the account in hand and returns the messages as plain data (``BatchPlan``);
``accept_batch`` returns them as ``Message`` aggregates (``messages_of``). Either is
saved in ONE transaction by the application, which writes the plan's rows directly
(``smsledger.application.bulk_send``, byte for byte the aggregates' events). No I/O,
no clock: ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from smsledger.domain.addressing import validate_sender
from smsledger.domain.batch import Batch, ReceiptLine
from smsledger.domain.errors import (
    GenericRejectedError,
    InvalidContentError,
    InvalidRequestError,
    MessageRejectedError,
)
from smsledger.domain.ids import time_ordered_id
from smsledger.domain.message import Message
from smsledger.domain.periods import period_of
from smsledger.domain.rules import check_content, check_recipient, check_sender_allowed
from smsledger.domain.segments import segment
from smsledger.domain.status import FUNDED, INSUFFICIENT_FUNDS
from smsledger.domain.text import check_line, check_lines, has_surrogate
from smsledger.domain.times import check_time
from smsledger.domain.unsubscribe import PLACEHOLDER_TOKEN, fresh_message_id

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime
    from uuid import UUID

    from smsledger.domain.account import Account, ChargedTo
    from smsledger.domain.pricing import PriceList
    from smsledger.domain.segments import Segmentation
    from smsledger.domain.unsubscribe import UnsubscribeLinks

DEFAULT_VALIDITY = 259_200  # 72 hours: how long operators usually retry
MIN_VALIDITY = 60
MAX_VALIDITY = 259_200
MAX_SENDER_LENGTH = 64  # beyond any valid sender; longer is a malformed request
MAX_RECIPIENT_LENGTH = 64
MAX_REFERENCE_LENGTH = 200
MAX_RECIPIENTS = 10_000  # the contract's ceiling for one batch


@dataclass(frozen=True, slots=True)
class AcceptedBatch:
    """What one send made: the batch (its receipt) and its messages, new and unsaved."""

    batch: Batch
    messages: list[Message]

    @property
    def lines(self) -> list[ReceiptLine]:
        return self.batch.lines

    @property
    def total_price(self) -> int:
        return self.batch.total_price


def check_send_request(
    sender: object,
    recipients: object,
    body: object,
    validity_period: object,
    send_at: object,
    reference: object,
    *,
    max_recipients: int = MAX_RECIPIENTS,
) -> None:
    """``InvalidRequestError`` (422) for a request no message can be made of.

    Types are strict (a boolean is not a validity period); a rule a single recipient
    breaks is not checked here: that recipient becomes a rejected message. A control
    character in the sender, a recipient or the reference is no character any of them
    can have (``smsledger.domain.text``): the request is malformed, and nothing of it is
    stored. The body keeps its own rule (408 per message), except for a lone surrogate,
    which no store can hold.
    """
    if not isinstance(sender, str) or len(sender) > MAX_SENDER_LENGTH:
        msg = f"sender must be a string of at most {MAX_SENDER_LENGTH} characters"
        raise InvalidRequestError(msg)
    check_line(sender, "sender", min_length=0, max_length=MAX_SENDER_LENGTH)
    if not isinstance(body, str):
        msg = "body must be a string"
        raise InvalidRequestError(msg)
    if has_surrogate(body):
        msg = "body holds a lone surrogate, which is not text"
        raise InvalidRequestError(msg)
    if not isinstance(recipients, list | tuple) or not 1 <= len(recipients) <= max_recipients:
        msg = f"recipients must be a list of 1 to {max_recipients} numbers"
        raise InvalidRequestError(msg)
    check_lines(recipients, "recipient", min_length=0, max_length=MAX_RECIPIENT_LENGTH)
    if type(validity_period) is not int or not MIN_VALIDITY <= validity_period <= MAX_VALIDITY:
        msg = f"validity_period must be {MIN_VALIDITY}-{MAX_VALIDITY} seconds"
        raise InvalidRequestError(msg)
    if send_at is not None:
        check_time(send_at, "send_at")
    if reference is not None:
        check_line(reference, "reference", max_length=MAX_REFERENCE_LENGTH)


@dataclass(slots=True)
class PlannedMessage:
    """One recipient's message as a send decided it, in plain data: what its
    ``Accepted`` event carries that is not the batch's, and how it ended (``status``
    103 funded, or the 4xx it was rejected with, and that rejection's ``detail``)."""

    id: UUID
    recipient: str
    body: str
    segments: int
    encoding: str
    unit_price: int
    price: int
    status: int
    detail: str | None = None

    @property
    def funded(self) -> bool:
        return self.status == FUNDED


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What one send decided (``plan_batch``), before any message aggregate exists: the
    batch (its receipt), each message in recipient order, and the facts every message
    of the batch shares. ``charged_to`` and ``period``: where the funded ones were
    charged and the period they count in (``None`` when none was funded)."""

    batch: Batch
    messages: list[PlannedMessage]
    account_id: UUID
    sender: str
    currency: str
    timezone: str
    validity_period: int
    send_at: datetime | None
    now: datetime
    charged_to: ChargedTo
    period: str | None

    @property
    def lines(self) -> list[ReceiptLine]:
        return self.batch.lines

    @property
    def total_price(self) -> int:
        return self.batch.total_price


def accept_batch(
    account: Account,
    batch_id: UUID,
    *,
    sender: str,
    recipients: Sequence[str],
    body: str,
    validity_period: int,
    send_at: datetime | None,
    reference: str | None,
    prices: PriceList,
    platform_keywords: Iterable[str],
    max_parts: int,
    now: datetime,
    status_callback: str | None = None,
    links: UnsubscribeLinks | None = None,
) -> AcceptedBatch:
    """``plan_batch``, with every message made an aggregate: ``Accepted``, then
    ``Funded`` or ``Rejected``. The application's bulk path writes the same events
    straight from the plan (``smsledger.application.bulk_send``)."""
    plan = plan_batch(
        account,
        batch_id,
        sender=sender,
        recipients=recipients,
        body=body,
        validity_period=validity_period,
        send_at=send_at,
        reference=reference,
        prices=prices,
        platform_keywords=platform_keywords,
        max_parts=max_parts,
        now=now,
        status_callback=status_callback,
        links=links,
    )
    return AcceptedBatch(plan.batch, messages_of(plan))


def messages_of(plan: BatchPlan) -> list[Message]:
    """The plan's messages as aggregates, each with its two events pending."""
    messages: list[Message] = []
    now = plan.now
    for p in plan.messages:
        message = Message.accept(
            account_id=plan.account_id,
            batch_id=plan.batch.id,
            sender=plan.sender,
            recipient=p.recipient,
            body=p.body,
            segments=p.segments,
            encoding=p.encoding,
            unit_price=p.unit_price,
            price=p.price,
            currency=plan.currency,
            timezone=plan.timezone,
            validity_period=plan.validity_period,
            send_at=plan.send_at,
            timestamp=now,
            id=p.id,
        )
        if p.detail is None:
            message.fund(plan.charged_to, now)
        else:
            message.reject(p.status, p.detail, now)
        messages.append(message)
    return messages


def plan_batch(
    account: Account,
    batch_id: UUID,
    *,
    sender: str,
    recipients: Sequence[str],
    body: str,
    validity_period: int,
    send_at: datetime | None,
    reference: str | None,
    prices: PriceList,
    platform_keywords: Iterable[str],
    max_parts: int,
    now: datetime,
    status_callback: str | None = None,
    links: UnsubscribeLinks | None = None,
) -> BatchPlan:
    """Accept, price and fund one message per recipient; charge ``account`` for them.

    Rules for the whole batch first (sender, a protected sender name, then content),
    then each recipient's (``check_recipient``), then the destination's price (406 where
    the price list has none). On the balance model, messages are funded in recipient order
    while the balance covers each price; the rest get 402 and cost nothing.

    With ``links`` (the account's unsubscribe link is on), every message that passes
    the rules gets its own link appended (``smsledger.domain.unsubscribe``) before it is
    segmented and priced, and its id is the one its token names; a rejected recipient
    gets no link and its body as sent. A body that fits ``max_parts`` only without the
    link is 408 for the whole batch.

    Changes the account in hand (its charge); the messages stay plain data
    (``messages_of`` makes them aggregates).
    """
    if send_at is not None and send_at <= now:
        send_at = None  # a time in the past means "now"

    common_error: MessageRejectedError | None = None
    seg: Segmentation | None = None
    linked: Segmentation | None = None
    try:
        validate_sender(sender)
        check_sender_allowed(sender, account)
        seg = segment(body, max_parts=max_parts)
        check_content(body, account, platform_keywords)
        if links is not None:
            # Once per batch: every token has the same length and costs one unit a
            # character in either encoding, so every linked body segments alike.
            try:
                linked = segment(body + links.prefix + PLACEHOLDER_TOKEN, max_parts=max_parts)
            except InvalidContentError as e:
                msg = f"with the unsubscribe link appended, {e.detail}"
                raise InvalidContentError(msg) from None
    except MessageRejectedError as e:
        common_error = e

    campaigns = account.campaign_countries(now)
    segments = seg.segments if seg else 0
    encoding = seg.encoding if seg else "GSM-7"
    priced = linked or seg
    priced_segments = priced.segments if priced else 0
    priced_encoding = priced.encoding if priced else "GSM-7"
    prefix = body + links.prefix if links is not None else body
    tokens: dict[int, str] = {}  # message index -> its link's token
    messages: list[PlannedMessage] = []
    rejected: dict[int, MessageRejectedError] = {}
    fundable: list[int] = []  # indexes into messages, in recipient order
    for raw in recipients:
        error = common_error
        recipient = raw
        unit_price = 0
        if error is None:
            try:
                number = check_recipient(raw, account, campaigns)
                recipient = number.e164
                listed = prices.unit_price(number.region)
                if listed is None:
                    msg = f"no price for destination {number.region}: it is not served"
                    raise GenericRejectedError(msg)
                unit_price = listed
            except MessageRejectedError as e:
                error = e
        # A message that passes the rules draws its link's token (and so its id); a
        # rejected one keeps the body as sent, and the segments that body takes.
        message_id: UUID | None = None
        text, parts, coding = body, segments, encoding
        if error is None and links is not None:
            token = tokens[len(messages)] = next(links.tokens)
            message_id, text = fresh_message_id(token), prefix + token
            parts, coding = priced_segments, priced_encoding
        if error is None:
            fundable.append(len(messages))
        else:
            rejected[len(messages)] = error
        messages.append(
            PlannedMessage(
                id=time_ordered_id(now) if message_id is None else message_id,
                recipient=recipient,
                body=text,
                segments=parts,
                encoding=coding,
                unit_price=unit_price,
                price=unit_price * parts if error is None else 0,
                status=FUNDED,
            )
        )

    n_funded = account.plan_funding([messages[i].price for i in fundable])
    charges: list[tuple[UUID, int]] = []
    for rank, i in enumerate(fundable):
        message = messages[i]
        if rank < n_funded:
            charges.append((message.id, message.price))
        else:
            message.status = INSUFFICIENT_FUNDS
            message.detail = "the account's balance does not cover this message"
    for i, error in rejected.items():
        messages[i].status, messages[i].detail = error.code, error.detail
    if charges:
        account.charge_batch(batch_id, charges, now)

    lines: list[ReceiptLine] = [
        {
            "id": str(m.id),
            "recipient": m.recipient,
            "status": m.status,
            "segments": m.segments,
            "encoding": m.encoding,
            "price": m.price if m.detail is None else 0,
        }
        for m in messages
    ]
    for i, token in tokens.items():
        lines[i]["token"] = token
    batch = Batch(
        account_id=account.id,
        reference=reference,
        total_price=sum(amount for _, amount in charges),
        currency=account.currency,
        lines=lines,
        timestamp=now,
        id=batch_id,
        status_callback=status_callback,
        body=body,
        link_prefix=links.prefix if links is not None else None,
    )
    return BatchPlan(
        batch=batch,
        messages=messages,
        account_id=account.id,
        sender=sender,
        currency=account.currency,
        timezone=account.timezone,
        validity_period=validity_period,
        send_at=send_at,
        now=now,
        charged_to=account.charges_to,
        period=period_of(now, account.timezone) if charges else None,
    )
