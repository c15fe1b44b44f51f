"""The API's request and response schemas, named by role (``...Create``, ``...Public``).

Kept apart from the domain's events: these are the public contract's shapes. Bounds
here are the HTTP layer's first line (422 for anything malformed or absurd); the
domain checks its own rules again.
"""

# Runtime annotations on purpose: pydantic reads them.
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from smsledger.domain.account import MAX_TOP_UP
from smsledger.domain.reports import MAX_REPORTS
from smsledger.domain.sending import (
    DEFAULT_VALIDITY,
    MAX_RECIPIENTS,
    MAX_SENDER_LENGTH,
    MAX_VALIDITY,
    MIN_VALIDITY,
)

MAX_BODY_CHARS = 5_000  # far beyond 10 parts (which is 408 per message); more is malformed
MAX_PAGE = 1_000

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)


def _sane_time(value: datetime) -> datetime:
    """Refuse times no ledger holds: converting year 1 or 9999 across offsets overflows."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        msg = "time must be between 1970 and 2999, with an offset"
        raise ValueError(msg)
    return value


Time = Annotated[AwareDatetime, AfterValidator(_sane_time)]
"""A time with an offset, within the years any ledger holds."""

PaymentModelName = Literal["balance", "post_invoice"]
AccountRoleName = Literal["admin", "sender", "support", "finance"]
Period = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Msisdn = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Input(BaseModel):
    """Request bodies: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# --- shared -----------------------------------------------------------------------------


class StatusPublic(BaseModel):
    code: int
    name: str
    group: Literal["Info", "Success", "Rejection", "Error"]


class StatusCodePublic(StatusPublic):
    final: bool
    description: str


# --- accounts and keys ------------------------------------------------------------------


class AccountCreate(Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    payment_model: PaymentModelName
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "SEK"
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "Europe/Stockholm"


class AccountPublic(BaseModel):
    id: UUID
    name: str
    payment_model: PaymentModelName
    currency: str
    timezone: str
    balance: int


class AccountCreated(AccountPublic):
    admin_key: str = Field(description="The account's first admin key; shown only this once.")


class PaymentModelUpdate(Input):
    payment_model: PaymentModelName


class KeyCreate(Input):
    role: AccountRoleName


class KeyPublic(BaseModel):
    id: UUID
    role: Literal["admin", "sender", "support", "finance", "gateway"]
    key: str = Field(description="The key itself; shown only this once.")


class TopUpCreate(Input):
    amount: int = Field(gt=0, le=MAX_TOP_UP, description="Minor units (öre for SEK).")
    reference: Reference


class TopUpPublic(BaseModel):
    balance: int


# --- block list ---------------------------------------------------------------------------


class BlockCreate(Input):
    msisdn: Msisdn


class BlockedNumber(BaseModel):
    msisdn: str
    added_at: datetime
    source: Literal["manual", "stop", "unsubscribe_link"]


class BlocklistPublic(BaseModel):
    items: list[BlockedNumber]


# --- messages -------------------------------------------------------------------------------


class BatchCreate(Input):
    sender: Annotated[str, StringConstraints(max_length=MAX_SENDER_LENGTH)]
    recipients: list[Msisdn] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    body: Annotated[str, StringConstraints(max_length=MAX_BODY_CHARS)]
    validity_period: int = Field(
        default=DEFAULT_VALIDITY, ge=MIN_VALIDITY, le=MAX_VALIDITY, description="Seconds."
    )
    send_at: Time | None = Field(
        default=None, description="When to send, at most a year ahead; past means now."
    )
    reference: Reference | None = Field(
        default=None, description="Idempotency key: the same reference again answers the same."
    )


class BatchMessagePublic(BaseModel):
    id: UUID
    recipient: str
    status: StatusPublic
    segments: int
    encoding: Literal["GSM-7", "UCS-2"]
    price: int


class BatchPublic(BaseModel):
    batch_id: UUID
    total_price: int
    currency: str
    messages: list[BatchMessagePublic]


class MessagePublic(BaseModel):
    id: UUID
    batch_id: UUID
    account_id: UUID
    sender: str
    recipient: str
    segments: int
    encoding: Literal["GSM-7", "UCS-2"]
    price: int
    currency: str
    status: StatusPublic
    legacy_status: Literal["Delivered", "Sent", "Wrong"] | None
    final: bool
    charged_to: Literal["balance", "invoice"] | None
    refunded: bool
    created_at: datetime
    updated_at: datetime


class MessagePage(BaseModel):
    items: list[MessagePublic]
    next_cursor: str | None


class HistoryEvent(BaseModel):
    version: int
    type: str
    at: datetime
    status: StatusPublic | None
    data: dict[str, Any]


class HistoryPublic(BaseModel):
    message_id: UUID
    status: StatusPublic | None
    events: list[HistoryEvent]


# --- delivery reports -------------------------------------------------------------------------


class DeliveryReportIn(BaseModel):
    """One carrier report. Loosely typed on purpose: a bad report is an ``invalid``
    outcome for that report alone, not a 422 for the whole batch."""

    message_id: Any = Field(description="The message's id (a UUID).")
    status_code: Any = Field(description="A status code; an uninterpretable one reads 599.")
    at: Any = Field(description="The carrier's time of the status, ISO 8601 with offset.")
    raw: Any = Field(default=None, description="The carrier's payload, kept in the history.")


class DeliveryReportBatch(Input):
    reports: list[DeliveryReportIn] = Field(max_length=MAX_REPORTS)


class ReportResult(BaseModel):
    message_id: str
    outcome: Literal["applied", "duplicate", "superseded", "unknown_message", "invalid"]


class ReportResults(BaseModel):
    results: list[ReportResult]


# --- money ------------------------------------------------------------------------------------


class LedgerEntry(BaseModel):
    seq: int
    at: datetime
    kind: Literal["top_up", "charge", "refund", "fee"]
    amount: int
    balance_after: int
    message_id: UUID | None = None
    reference: str | None = None


class LedgerPage(BaseModel):
    entries: list[LedgerEntry]
    next_cursor: str | None


class InvoiceLine(BaseModel):
    kind: Literal["sms", "refund", "fee", "adjustment"]
    description: str
    quantity: int
    amount: int


class InvoicePublic(BaseModel):
    account_id: UUID
    period: str
    status: Literal["open", "issued"]
    currency: str
    lines: list[InvoiceLine]
    total: int


class Discrepancy(BaseModel):
    kind: str
    message_id: UUID | None = None
    detail: str


class AccountReconciliation(BaseModel):
    account_id: UUID
    messages_charged: int
    charged_to_balance: int
    charged_to_invoice: int
    refunded_to_balance: int
    refunded_on_invoice: int
    top_ups: int
    invoice_total: int
    balance_movement: int
    discrepancies: list[Discrepancy]


class ReconciliationPublic(BaseModel):
    period: str
    ok: bool
    accounts: list[AccountReconciliation]


# --- operations ---------------------------------------------------------------------------------


class ProjectionHealth(BaseModel):
    position: int
    lag: int


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    projections: dict[str, ProjectionHealth]


class Problem(BaseModel):
    """RFC 9457 problem details: every error answer has this shape."""

    type: str
    title: str
    status: int
    detail: str
