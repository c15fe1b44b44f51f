"""The Batch aggregate: one send request and the answer it got.

A batch sent with a client ``reference`` gets an id derived from the account and the
reference, so a retried request finds the first batch instead of charging again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NotRequired, TypedDict
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

if TYPE_CHECKING:
    from datetime import datetime

_NAMESPACE = uuid5(NAMESPACE_URL, "https://smsledger.example/batch-reference")


class ReceiptLine(TypedDict):
    id: str
    recipient: str
    status: int
    segments: int
    encoding: str
    price: int
    # The message's unsubscribe link token; its final body is the batch's body, the
    # batch's ``link_prefix`` and this. Absent: the message's body is the batch's.
    token: NotRequired[str]


def batch_id_for(account_id: UUID, reference: str | None) -> UUID:
    """Deterministic id for a referenced batch, random otherwise."""
    if reference is None:
        return uuid4()
    return uuid5(_NAMESPACE, f"{account_id.hex}/{reference}")


class Batch(Aggregate):
    TOPIC = "smsledger:Batch"

    class Created(Aggregate.Created):
        TOPIC = "smsledger:Batch.Created"

    @event("Submitted", topic="smsledger:Batch.Submitted")
    def __init__(
        self,
        id: UUID,
        account_id: UUID,
        reference: str | None,
        total_price: int,
        currency: str,
        lines: list[ReceiptLine],
        timestamp: datetime,
        status_callback: str | None = None,
        body: str | None = None,
        link_prefix: str | None = None,
    ) -> None:
        # ``status_callback`` came with webhooks, ``body`` and ``link_prefix`` with
        # unsubscribe links; batches submitted before have none, and the library passes
        # an old event's fields alone, so they need their defaults.
        self.status_callback = status_callback
        self.body = body
        self.link_prefix = link_prefix
        self.account_id = account_id
        self.reference = reference
        self.total_price = total_price
        self.currency = currency
        self.lines = lines


def final_bodies(
    body: str | None, link_prefix: str | None, lines: list[ReceiptLine]
) -> list[str] | None:
    """Each line's final body, link included; ``None`` for a batch submitted before
    batches kept their body (its messages still have theirs)."""
    if body is None:
        return None
    linked = body + (link_prefix or "")
    return [linked + line["token"] if "token" in line else body for line in lines]
