"""The Batch aggregate: one send request and the answer it got.

A batch sent with a client ``reference`` gets an id derived from the account and the
reference, so a retried request finds the first batch instead of charging again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict
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
    ) -> None:
        # ``status_callback`` came with webhooks; batches submitted before have none,
        # and the library passes an old event's fields alone, so it needs its default.
        self.status_callback = status_callback
        self.account_id = account_id
        self.reference = reference
        self.total_price = total_price
        self.currency = currency
        self.lines = lines
