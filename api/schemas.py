"""The API's request and response schemas, named by role (``...Create``, ``...Public``).

Kept apart from the domain's events: these are the public contract's shapes. Bounds
here are the HTTP layer's first line (422 for anything malformed or absurd); the
domain checks its own rules again.
"""

# Runtime annotations on purpose: pydantic reads them.
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)

from smsledger.domain.account import (
    MAX_CAMPAIGN_REFERENCE_LENGTH,
    MAX_KEYWORD_LENGTH,
    MAX_KEYWORDS,
    MAX_NAME_LENGTH,
    MAX_SENDER_NAME_LENGTH,
    MAX_TOP_UP,
    MAX_TOP_UP_REFERENCE_LENGTH,
)
from smsledger.domain.contacts import (
    MAX_GROUP_NAME_LENGTH,
    MAX_GROUPS_PER_CONTACT,
    MAX_PERSON_NAME_LENGTH,
)
from smsledger.domain.errors import InvalidRequestError
from smsledger.domain.inbound import MAX_GATEWAY_REF, MAX_INBOUND, MAX_INBOUND_BODY
from smsledger.domain.periods import PERIOD_PATTERN, parse_period
from smsledger.domain.reports import MAX_REPORTS
from smsledger.domain.sending import (
    DEFAULT_VALIDITY,
    MAX_RECIPIENT_LENGTH,
    MAX_RECIPIENTS,
    MAX_REFERENCE_LENGTH,
    MAX_SENDER_LENGTH,
    MAX_VALIDITY,
    MIN_VALIDITY,
)
from smsledger.domain.text import LINE_PATTERN, check_line, check_lines
from smsledger.domain.times import WINDOW, in_window
from smsledger.domain.users import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, MAX_USER_NAME_LENGTH
from smsledger.domain.webhooks import MAX_URL_LENGTH, WEBHOOK_EVENTS

MAX_BODY_CHARS = 5_000  # far beyond 10 parts (which is 408 per message); more is malformed
MAX_PAGE = 1_000
MAX_CURSOR_LENGTH = 512
CURSOR_PATTERN = "^[A-Za-z0-9_-]*$"

# Integers are JSON integers: no boolean (``true`` is not 1 öre), no string, no float
# (``100.0``, ``1e3``). Every bound below is far inside what a BIGINT stores.
StrictInt = Annotated[int, Strict()]


def _digits(value: object) -> object:
    """A query or header integer is ASCII digits: ``int()`` would also take ``1.0`` (as
    pydantic reads it), ``5_0`` and `` 5``."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        msg = "an integer is written in ASCII digits"
        raise ValueError(msg)
    return value


DIGITS = BeforeValidator(_digits)
"""For an integer from a query string or a header, after its ``Query``/``Header``
(``Annotated[int, Query(ge=1), DIGITS]``: nested in an alias, FastAPI would drop the
bounds)."""

# A time is an ISO 8601 string with an offset, in the extended format (RFC 3339, with
# ``T`` or a space): never a number of seconds, nor a string of one, nor a date alone.
_ISO_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


def _iso_text(value: object) -> object:
    if isinstance(value, datetime):  # a Python caller's own instant
        return value
    if not isinstance(value, str) or not _ISO_TIME.fullmatch(value):
        msg = "a time is an ISO 8601 string with an offset, such as 2026-11-02T09:00:00+01:00"
        raise ValueError(msg)
    return value


def _sane_time(value: datetime) -> datetime:
    """Refuse times no ledger holds: converting year 1 or 9999 across offsets overflows."""
    if in_window(value) is None:
        msg = f"a time must be {WINDOW}"
        raise ValueError(msg)
    return value


Time = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_sane_time)]
"""A time with an offset, within the years any ledger holds (``domain.times``)."""


def _domain(check: Any) -> Any:
    """A domain check as a pydantic validator: its ``InvalidRequestError`` a 422 entry."""

    def validate(value: Any) -> Any:
        try:
            check(value)
        except InvalidRequestError as e:
            raise ValueError(str(e)) from None
        return value

    return AfterValidator(validate)


def _line(name: str, max_length: int, min_length: int = 1) -> Any:
    """One line of printable text (``domain.text``), checked by the domain's own rule."""
    return _domain(lambda v: check_line(v, name, min_length=min_length, max_length=max_length))


_LINE_SCHEMA = Field(json_schema_extra={"pattern": LINE_PATTERN})
"""What ``_line`` lets through, for the OpenAPI document."""


PaymentModelName = Literal["balance", "post_invoice"]
AccountRoleName = Literal["admin", "sender", "support", "finance"]
Period = Annotated[
    str,
    StringConstraints(pattern=PERIOD_PATTERN),
    _domain(parse_period),
    Field(description="YYYY-MM (ASCII digits), a year 1970-2999"),
]
Reference = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_REFERENCE_LENGTH),
    _line("reference", MAX_REFERENCE_LENGTH),
    _LINE_SCHEMA,
]
Msisdn = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_RECIPIENT_LENGTH),
    _line("msisdn", MAX_RECIPIENT_LENGTH),
    _LINE_SCHEMA,
]
AccountName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH),
    _line("name", MAX_NAME_LENGTH),
    _LINE_SCHEMA,
]
TimeZoneName = Annotated[
    str, StringConstraints(min_length=1, max_length=64), _line("timezone", 64), _LINE_SCHEMA
]
TopUpReference = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TOP_UP_REFERENCE_LENGTH),
    _line("reference", MAX_TOP_UP_REFERENCE_LENGTH),
    _LINE_SCHEMA,
]
SenderName = Annotated[
    str,
    StringConstraints(max_length=MAX_SENDER_LENGTH),
    _line("sender", MAX_SENDER_LENGTH, min_length=0),
    _LINE_SCHEMA,
]
Recipient = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_RECIPIENT_LENGTH), _LINE_SCHEMA
]
"""A recipient as given; the list is checked as a whole (``Recipients``), in one scan."""
Recipients = Annotated[
    list[Recipient],
    Field(max_length=MAX_RECIPIENTS),
    _domain(lambda v: check_lines(v, "recipient", max_length=MAX_RECIPIENT_LENGTH)),
]
MAX_SEND_GROUPS = 100
Cursor = Annotated[str, StringConstraints(max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN)]


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
    name: AccountName
    payment_model: PaymentModelName
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "SEK"
    timezone: TimeZoneName = "Europe/Stockholm"


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


# --- users and sessions ----------------------------------------------------------------

Email = Annotated[
    EmailStr,
    StringConstraints(max_length=MAX_EMAIL_LENGTH),
    Field(description="An e-mail address; one user per address across the platform."),
]
UserName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_USER_NAME_LENGTH),
    _line("name", MAX_USER_NAME_LENGTH),
    _LINE_SCHEMA,
]
Password = Annotated[
    str,
    StringConstraints(max_length=MAX_PASSWORD_LENGTH),
    Field(description="At least 10 characters, one digit and one capital letter."),
]
LinkToken = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class UserCreate(Input):
    email: Email
    name: UserName
    role: AccountRoleName


class UserUpdate(Input):
    name: UserName | None = None
    role: AccountRoleName | None = None
    state: Literal["active", "disabled"] | None = Field(
        default=None, description="`disabled` ends the user's sessions at once."
    )


class UserPublic(BaseModel):
    id: UUID
    account_id: UUID
    email: str
    name: str
    role: AccountRoleName
    state: Literal["invited", "active", "disabled"]


class UserPage(BaseModel):
    items: list[UserPublic]
    next_cursor: str | None


class SessionCreate(Input):
    email: Annotated[str, StringConstraints(max_length=MAX_EMAIL_LENGTH)]
    password: Annotated[str, StringConstraints(max_length=MAX_PASSWORD_LENGTH)]


class SessionPublic(BaseModel):
    token: str = Field(description="A bearer token (`ss_...`), shown only this once.")
    role: AccountRoleName
    account_id: UUID
    expires_at: datetime


class PasswordResetCreate(Input):
    email: Annotated[str, StringConstraints(max_length=MAX_EMAIL_LENGTH)]


class PasswordCreate(Input):
    token: LinkToken = Field(description="The token of the link in the mail.")
    password: Password


class KeyCreate(Input):
    role: AccountRoleName


class AccountPage(BaseModel):
    items: list[AccountPublic]
    next_cursor: str | None


class KeyInfoPublic(BaseModel):
    id: UUID
    role: Literal["admin", "sender", "support", "finance"]
    created_at: datetime
    revoked_at: datetime | None = Field(description="When it stopped working; null: live.")


class KeyPage(BaseModel):
    items: list[KeyInfoPublic] = Field(description="Never a key's secret: it was shown once.")
    next_cursor: str | None


class KeyPublic(BaseModel):
    id: UUID
    role: Literal["admin", "sender", "support", "finance", "gateway"]
    key: str = Field(description="The key itself; shown only this once.")


class TopUpCreate(Input):
    amount: StrictInt = Field(
        gt=0,
        le=MAX_TOP_UP,
        description="Minor units (öre for SEK), written as a JSON integer: `100.0`, `1e3`, "
        '`true` and `"100"` are 422.',
    )
    reference: TopUpReference


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


# --- contacts and groups ----------------------------------------------------------------

PersonName = Annotated[
    str,
    StringConstraints(max_length=MAX_PERSON_NAME_LENGTH),
    _line("name", MAX_PERSON_NAME_LENGTH, min_length=0),
    _LINE_SCHEMA,
]
GroupRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_GROUP_NAME_LENGTH + 36),
    _line("group", MAX_GROUP_NAME_LENGTH + 36),
    _LINE_SCHEMA,
]
GroupNames = Annotated[
    list[GroupRef],
    Field(
        max_length=MAX_GROUPS_PER_CONTACT,
        description="Group names; one group whatever the case (`friends` is `Friends`), "
        "created when first named.",
    ),
]


class ContactCreate(Input):
    msisdn: Msisdn = Field(description="Any form the send path takes; kept as E.164.")
    first_name: PersonName = ""
    last_name: PersonName = ""
    groups: GroupNames = Field(default_factory=list)


class ContactUpdate(Input):
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    groups: GroupNames | None = Field(
        default=None, description="The contact's groups become exactly these."
    )


class ContactPublic(BaseModel):
    id: UUID
    msisdn: str
    first_name: str
    last_name: str
    groups: list[str]
    source: Literal["manual", "inbound_save", "import"] = Field(
        description="How the contact came to be; its history says each change's source."
    )
    created_at: datetime
    updated_at: datetime


class ContactPage(BaseModel):
    items: list[ContactPublic]
    next_cursor: str | None


class GroupPublic(BaseModel):
    id: UUID
    name: str = Field(description="As first named.")
    members: int


class GroupPage(BaseModel):
    items: list[GroupPublic]
    next_cursor: str | None


class ContactEvent(BaseModel):
    version: int
    type: str = Field(description="Saved, Changed, Deleted or Recreated")
    at: datetime
    data: dict[str, Any] = Field(
        description="The event's facts: names, groups, and `source` and `origin` (the "
        "inbound SMS's id, or the import's id and line) saying why."
    )


class ContactHistory(BaseModel):
    contact_id: UUID
    deleted: bool
    events: list[ContactEvent]


class ImportRejection(BaseModel):
    line: int = Field(description="The file's line (the header is line 1).")
    reason: str


class ImportResultPublic(BaseModel):
    created: int
    updated: int = Field(description="Contacts this file changed.")
    unchanged: int = Field(description="Contacts already as the file has them.")
    rejected: list[ImportRejection]


# --- add-ons ------------------------------------------------------------------------------


class AddOnCreate(Input):
    kind: Literal["virtual_number", "unsubscribe_link"]
    number: Msisdn | None = Field(
        default=None, description="A virtual number's E.164 number (virtual_number only)."
    )


class AddOnPublic(BaseModel):
    id: UUID
    kind: Literal["virtual_number", "unsubscribe_link"]
    number: str | None
    price_per_year: int = Field(description="Minor units; 0 when included.")
    currency: str
    included: bool = Field(description="Included in a post-invoicing subscription (today).")
    started_on: date
    commitment_ends_on: date
    notice_given_on: date | None
    ends_on: date | None


class AddOnPage(BaseModel):
    items: list[AddOnPublic]
    next_cursor: str | None


# --- campaigns, senders, keywords -------------------------------------------------------


class CampaignCreate(Input):
    country: Literal["US", "CA"] = Field(
        description="The destination: a recipient's country is read from its number's "
        "region, so +1 numbers of other NANP countries (Jamaica, ...) need none."
    )
    reference: Annotated[
        str,
        StringConstraints(min_length=1, max_length=MAX_CAMPAIGN_REFERENCE_LENGTH),
        _line("reference", MAX_CAMPAIGN_REFERENCE_LENGTH),
        _LINE_SCHEMA,
    ] = Field(description="The booking's own reference; the same one again is a retry.")
    valid_until: Time | None = Field(
        default=None, description="When the campaign ends; none: until further notice."
    )


class CampaignPublic(BaseModel):
    country: Literal["US", "CA"]
    reference: str
    booked_at: datetime
    valid_until: datetime | None
    active: bool


class CampaignsPublic(BaseModel):
    items: list[CampaignPublic]


SenderNameInput = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SENDER_NAME_LENGTH),
    _line("sender", MAX_SENDER_NAME_LENGTH),
    _LINE_SCHEMA,
]


class SenderCreate(Input):
    sender: SenderNameInput


class VerifiedSender(BaseModel):
    sender: str
    verified_at: datetime


class SendersPublic(BaseModel):
    items: list[VerifiedSender]


Keyword = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_KEYWORD_LENGTH),
    _line("keyword", MAX_KEYWORD_LENGTH),
    _LINE_SCHEMA,
]


class BannedKeywordsUpdate(Input):
    keywords: Annotated[list[Keyword], Field(max_length=MAX_KEYWORDS)] = Field(
        description="The account's own list (it replaces the previous one), matched like "
        "the platform's: whole words, any case, common inflections."
    )


class BannedKeywordsPublic(BaseModel):
    keywords: list[str]
    platform: list[str] = Field(description="The platform's list, applied to every account.")


# --- messages -------------------------------------------------------------------------------


WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    _line("url", MAX_URL_LENGTH),
    _LINE_SCHEMA,
    Field(
        description=(
            "http:// or https://, no user name or password; loopback and private "
            "addresses only with SMSLEDGER_WEBHOOK_ALLOW_LOOPBACK=1, link-local and "
            "metadata addresses never"
        )
    ),
]


class BatchCreate(Input):
    sender: SenderName
    recipients: Recipients = Field(
        default_factory=list,
        description="Numbers; with `groups`, may be empty. At least one recipient in all.",
    )
    groups: list[GroupRef] = Field(
        default_factory=list,
        max_length=MAX_SEND_GROUPS,
        description=(
            "Group names (any case) or ids: every member is a recipient, once, also when "
            "among `recipients`; the cap on recipients counts them all. Members are read "
            "from the read model (send `X-Ledger-Min-Position` after changing a group)."
        ),
    )
    body: Annotated[str, StringConstraints(max_length=MAX_BODY_CHARS)] = Field(
        description="The text; an illegal character in it is 408 InvalidContent per message."
    )
    validity_period: StrictInt = Field(
        default=DEFAULT_VALIDITY,
        ge=MIN_VALIDITY,
        le=MAX_VALIDITY,
        description='Seconds, a JSON integer (`600.0` and `"600"` are 422).',
    )
    send_at: Time | None = Field(
        default=None, description="When to send, at most a year ahead; past means now."
    )
    reference: Reference | None = Field(
        default=None, description="Idempotency key: the same reference again answers the same."
    )
    status_callback: WebhookUrl | None = Field(
        default=None,
        description=(
            "Where this batch's status changes are POSTed (instead of the account's "
            "webhook), signed with the account's webhook secret: 409 if it has none."
        ),
    )

    @model_validator(mode="after")
    def _someone(self) -> "BatchCreate":
        if not self.recipients and not self.groups:
            msg = "name at least one recipient or group"
            raise ValueError(msg)
        return self


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


class StatusCount(StatusPublic):
    count: int


class BatchDetail(BaseModel):
    id: UUID
    account_id: UUID
    reference: str | None
    created_at: datetime
    total_price: int
    currency: str
    recipients: int
    statuses: list[StatusCount] = Field(description="How many of its messages are where now.")
    items: list[MessagePublic] = Field(description="Its messages, a page at a time.")
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


# --- inbound SMS ------------------------------------------------------------------------------


class InboundIn(BaseModel):
    """One SMS from the gateway. Loosely typed on purpose: a bad SMS is an ``invalid``
    outcome (with its ``reason``) for that SMS alone, not a 422 for the whole batch."""

    model_config = ConfigDict(populate_by_name=True)

    to: Any = Field(default=None, description="The virtual number it was sent to (E.164).")
    from_: Any = Field(default=None, alias="from", description="The sender's MSISDN.")
    body: Any = Field(
        default=None,
        description=f"The text, at most {MAX_INBOUND_BODY} characters; line breaks are the "
        "only control characters allowed.",
    )
    at: Any = Field(default=None, description="The carrier's time, ISO 8601 with offset.")
    gateway_ref: Any = Field(
        default=None,
        description=f"The gateway's own id of the SMS (1-{MAX_GATEWAY_REF} characters): "
        "the same reference again is a duplicate and does nothing.",
    )


class InboundBatch(Input):
    messages: list[InboundIn] = Field(max_length=MAX_INBOUND)


class InboundResult(BaseModel):
    gateway_ref: str | None
    outcome: Literal["stored", "duplicate", "unknown_number", "invalid"]
    id: UUID | None = Field(description="The inbound message (stored or duplicate).")
    action: Literal["opt_out", "contact_saved"] | None = Field(
        description="What it did: opt_out (the sender is on the block list, its pending "
        "messages canceled and refunded), contact_saved, or nothing."
    )
    reason: str | None = Field(default=None, description="Why it is invalid.")


class InboundResults(BaseModel):
    results: list[InboundResult]


class InboundPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: UUID
    to: str
    from_: str = Field(alias="from")
    body: str
    at: datetime
    action: Literal["opt_out", "contact_saved"] | None


class InboundPage(BaseModel):
    items: list[InboundPublic]
    next_cursor: str | None


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


class InvoiceSummary(BaseModel):
    account_id: UUID
    period: str
    status: Literal["open", "issued"]
    currency: str
    total: int
    issued_at: datetime | None


class InvoicePage(BaseModel):
    items: list[InvoiceSummary] = Field(description="Newest period first.")
    next_cursor: str | None


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
    fees: int = Field(description="Add-on fees that fell due in the period (on its invoice).")
    invoice_total: int
    balance_movement: int
    discrepancies: list[Discrepancy]


class ReconciliationPublic(BaseModel):
    period: str
    ok: bool
    accounts: list[AccountReconciliation]


# --- operations ---------------------------------------------------------------------------------


class ProjectionFailurePublic(BaseModel):
    """An event a projection could not apply and skipped. Anyone sees where and what
    kind; the operator also sees whose and why (the error may quote tenant data)."""

    position: int = Field(description="The event's position in the log")
    topic: str = Field(description="The event's topic, e.g. `smsledger:Message.Accepted`")
    originator_id: str | None = Field(None, description="Operator only: the aggregate")
    account_id: str | None = Field(None, description="Operator only: its account, if known")
    error: str | None = Field(None, description="Operator only: why it could not be applied")
    first_seen: str | None = Field(None, description="Operator only: when it first failed")


class ProjectionHealth(BaseModel):
    position: int
    lag: int
    failed_events: int = Field(
        0, description="Events skipped because they could not be applied; 0 when healthy"
    )
    failures: list[ProjectionFailurePublic] = Field(
        default_factory=list, description="The oldest of them (at most 20)"
    )


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    projections: dict[str, ProjectionHealth]


class Problem(BaseModel):
    """RFC 9457 problem details: every error answer has this shape, as
    ``application/problem+json``."""

    type: str = Field(description="A URI naming the kind of problem")
    title: str = Field(description="The HTTP status phrase")
    status: int = Field(description="The HTTP status code, repeated")
    detail: str = Field(description="What went wrong, for a person")


class ValidationIssue(BaseModel):
    """One thing wrong with a request."""

    loc: list[str] = Field(
        description="Where: `body`, `query`, `path` or `header`, then the field (and index)"
    )
    msg: str = Field(description="What is wrong with it")
    type: str = Field(description="A stable code for the kind of error, e.g. `int_type`")


class ValidationProblem(Problem):
    """A 422: the problem, and every thing wrong with the request (up to 50)."""

    errors: list[ValidationIssue]


# --- status callbacks ---------------------------------------------------------------------

WebhookEvent = Literal["message.status"]


class WebhookCreate(Input):
    url: WebhookUrl
    events: list[WebhookEvent] = Field(
        default=["message.status"],
        max_length=len(WEBHOOK_EVENTS),
        description="Kinds to send; `[]` keeps only the secret (for batch status_callback).",
    )


class WebhookPublic(BaseModel):
    url: str
    events: list[WebhookEvent]
    configured_at: datetime
    previous_secret_valid_until: datetime | None = Field(
        description="After a rotation, the secret before still signs until then."
    )
    state: Literal["active", "paused", "disabled"]
    state_reason: str | None


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="`whsec_...`: shown only in this answer.")


class WebhookAttemptPublic(BaseModel):
    at: datetime
    status_code: int | None = Field(description="`null`: no answer (refused, timeout, reset)")
    latency_ms: int
    error: str | None
    next_retry_at: datetime | None


class WebhookDeliveryPublic(BaseModel):
    id: str = Field(description="The `webhook-id` header: one per status change")
    message_id: UUID
    event_id: UUID
    event_at: datetime
    url: str
    state: Literal["pending", "done", "failed", "gone", "skipped"]
    next_attempt_at: datetime | None
    last_status_code: int | None
    delivered_at: datetime | None
    attempts: list[WebhookAttemptPublic]


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDeliveryPublic]
    next_cursor: str | None


# --- the stop service ---------------------------------------------------------------------


class StopServiceUpdate(Input):
    sms_stop: Annotated[bool, Strict()] = Field(
        description="An inbound STOP or STOPP to the account's virtual number puts the sender "
        "on the block list and cancels, with refund, what is not yet handed off to it."
    )
    unsubscribe_link: Annotated[bool, Strict()] = Field(
        description="Every message gets a short link that lets its recipient opt out."
    )


class StopServicePublic(BaseModel):
    sms_stop: bool = Field(description="On and working now (its add-on or subscription runs).")
    unsubscribe_link: bool = Field(
        description="On and working now (its add-on or subscription runs)."
    )
