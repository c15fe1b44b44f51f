"""The ports the workers drive: the gateway (how the dispatcher hands a message
upstream, and what comes back) and mail (the outbox the mailer drains, and the
transport it sends through).

A gateway takes a message by OUR message id and is idempotent on it: submitting the
same id twice is one submission and gives the first answer again, a reference or a
refusal. ``lookup`` gives that first answer without submitting, so a dispatcher that
crashed between handing a message off and recording the answer finds out what it was
(accepted, or refused for good) instead of submitting it again.

Reports come back as plain mappings (``smsledger.domain.reports``). The adapters live in
``smsledger.adapters``; ``SMSLEDGER_GATEWAY`` picks one in the composition root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from smsledger.domain.errors import SmsLedgerError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    from smsledger.domain.message import Message


class GatewayError(SmsLedgerError):
    """The gateway could not be reached; nothing is known about the submission."""


class HandOffRefusedError(GatewayError):
    """The gateway refused the message for good: a failed hand-off (511)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A gateway's remembered refusal of a message (a failed hand-off, 511)."""

    detail: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a gateway needs to send one message."""

    message_id: UUID
    sender: str
    recipient: str
    body: str
    expires_at: datetime
    account_id: UUID | None = None  # whose message: where a reply to it goes

    @classmethod
    def of(cls, message: Message) -> Outgoing:
        return cls(
            message.id,
            message.sender,
            message.recipient,
            message.body,
            message.expires_at,
            message.account_id,
        )


class Gateway(Protocol):
    """An upstream gateway, as the dispatcher and the report pump see it."""

    name: str

    def submit(self, message: Outgoing, now: datetime) -> str:
        """Hand a message over; the gateway's reference. Idempotent on the message id:
        a repeat gives the first answer and sends nothing. Raises
        ``HandOffRefusedError`` if refused for good, ``GatewayError`` if unsure."""
        ...

    def lookup(self, message_id: UUID) -> str | Refused | None:
        """The gateway's first answer to this id: the reference it accepted it under,
        ``Refused`` if it refused it, or ``None`` if it never had it."""
        ...

    def due_reports(self, now: datetime, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Reports the gateway has for us by ``now``: ``(receipt id, report)`` pairs."""
        ...

    def acknowledge(self, receipt_ids: Sequence[int], now: datetime) -> None:
        """Mark reports as received, so they are not handed out again."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class InboundSource(Protocol):
    """A gateway that also brings SMS recipients send back (the carrier simulator's
    replies): ``(receipt id, {"account_id", "from", "body", "at", "gateway_ref"})``;
    the dispatcher addresses each to the account's virtual number and takes it through
    the same ingest as ``POST /v1/inbound-messages``."""

    def due_inbound(self, now: datetime, limit: int) -> list[tuple[int, dict[str, Any]]]: ...
    def acknowledge_inbound(self, receipt_ids: Sequence[int], now: datetime) -> None: ...


class Mail(NamedTuple):
    """One mail of the outbox, as the mailer sends it."""

    id: UUID
    to_addr: str
    subject: str
    body: str
    attempts: int


class MailQueue(Protocol):
    """The outbox as the mailer sees it (``smsledger.adapters.mail.Outbox``)."""

    def claim(self, now: datetime, limit: int = 20) -> list[Mail]: ...
    def sent(self, mail_id: UUID, now: datetime, body: str) -> None: ...
    def failed(self, mail: Mail, error: str, now: datetime) -> None: ...


class MailTransport(Protocol):
    """A way out for mail: SMTP, or the log."""

    name: str

    def send(self, mail: Mail, sender: str) -> None:
        """Deliver one mail, or raise."""
        ...


# --- status callbacks (smsledger.workers.webhooks) ------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """What one callback attempt got: the HTTP status (``None``: no answer at all, with
    ``error`` saying why) and how long it took."""

    status_code: int | None
    latency_ms: int
    error: str | None = None


class CallbackSender(Protocol):
    """Sends one signed callback (Standard Webhooks headers) and says what came back.

    It checks the target again as it connects (the name resolved now, the address it
    connects to is the one checked), and never raises for a receiver's failure: a
    refused target, a timeout or a reset are answers with ``status_code=None``."""

    def send(
        self, url: str, webhook_id: str, body: bytes, secrets: Sequence[str]
    ) -> CallbackAnswer: ...


# --- inbound SMS (Ledger.receive_inbound) ---------------------------------------------


class PendingMessages(Protocol):
    """The messages not yet handed to a gateway, of each ``(account, recipient)``: what
    an opt-out cancels. Read from a read model, so it may lag the log; the dispatcher's
    block-list check at hand-off catches a message it has not seen yet."""

    def __call__(self, pairs: Sequence[tuple[UUID, str]]) -> list[UUID]: ...
