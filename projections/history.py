"""History and as-of, read from the event store (not from a view).

A message's events with version, type, the time the ledger recorded each (the event's
timestamp; a delivery report's carrier time stays in its ``data``) and the status it
left the message at; a message's status and an account's balance as of any time.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from smsledger.domain.account import Account
from smsledger.domain.contacts import Contact
from smsledger.domain.errors import (
    AccountNotFoundError,
    ContactNotFoundError,
    MessageNotFoundError,
)
from smsledger.domain.message import Message
from smsledger.domain.status import REFUNDED, STATUS_CODES
from smsledger.domain.times import utc_text
from smsledger.projections.events import account_of

if TYPE_CHECKING:
    from smsledger.projections.events import EventLog

_HIDDEN = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def _json_safe(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):  # one format for every time an answer holds
        return utc_text(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    return value


def status_object(code: int | None) -> dict[str, Any] | None:
    return None if code is None else STATUS_CODES[code].as_dict()


def message_history(
    ledger: EventLog,
    message_id: UUID,
    as_of: datetime | None = None,
    account_id: UUID | None = None,
) -> dict[str, Any]:
    """``{"message_id", "status", "events": [{"version", "type", "at", "status", "data"}]}``;
    with ``account_id``, another account's message reads as unknown.

    An event's ``status`` is the status it moved the message to (104 for a refund),
    ``None`` when it did not change it. With ``as_of``, only the events the ledger had
    recorded by then (by their own timestamp, never a report's carrier time) are listed,
    and the top-level ``status`` is the message's status at that instant (now when
    ``None``): ``None`` with no events if it did not exist yet.
    """
    if as_of is not None and as_of.tzinfo is None:
        msg = "as_of needs an offset"
        raise ValueError(msg)
    events = list(ledger.events.get(message_id))
    if not events:
        raise MessageNotFoundError(str(message_id))
    aggregate: Any = None
    current: int | None = None
    out: list[dict[str, Any]] = []
    for event in events:
        before = None if aggregate is None else aggregate.status
        aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
        if not isinstance(aggregate, Message) or (
            account_id is not None and aggregate.account_id != account_id
        ):  # another aggregate's id, or another account's message: both unknown
            raise MessageNotFoundError(str(message_id))
        name = type(event).__name__
        code: int | None = REFUNDED if name == "Refunded" else aggregate.status
        if name != "Refunded" and code == before:
            code = None
        at: datetime = event.timestamp  # type: ignore[attr-defined]
        if as_of is not None and at > as_of:
            # Recorded after ``as_of``: not yet part of the history as it stood then,
            # whatever carrier time a report inside it carries.
            continue
        current = aggregate.status
        out.append(
            {
                "version": event.originator_version,
                "type": name,
                "at": at,
                "status": status_object(code),
                "data": {k: _json_safe(v) for k, v in vars(event).items() if k not in _HIDDEN},
            }
        )
    return {"message_id": message_id, "status": status_object(current), "events": out}


def contact_history(ledger: EventLog, contact_id: UUID, account_id: UUID) -> dict[str, Any]:
    """``{"contact_id", "deleted", "events": [{"version", "type", "at", "data"}]}``: why
    the contact exists (each event's ``source`` and ``origin``: the inbound SMS, the
    import and its line), a deleted one's too; another account's reads as unknown."""
    aggregate: Any = None
    out: list[dict[str, Any]] = []
    for event in ledger.events.get(contact_id):
        aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
        if not isinstance(aggregate, Contact) or aggregate.account_id != account_id:
            raise ContactNotFoundError(str(contact_id))
        out.append(
            {
                "version": event.originator_version,
                "type": type(event).__name__,
                "at": event.timestamp,  # type: ignore[attr-defined]
                "data": {k: _json_safe(v) for k, v in vars(event).items() if k not in _HIDDEN},
            }
        )
    if aggregate is None:
        raise ContactNotFoundError(str(contact_id))
    return {"contact_id": contact_id, "deleted": aggregate.deleted, "events": out}


def balance_as_of(ledger: EventLog, account_id: UUID, at: datetime) -> int:
    """The account's balance at instant ``at``, replayed from its events."""
    aggregate: Any = None
    for event in ledger.events.get(account_id):
        if event.timestamp > at:  # type: ignore[attr-defined]
            break
        aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
    if aggregate is None:
        account_of(ledger, account_id)  # AccountNotFoundError for an unknown id
        return 0
    if not isinstance(aggregate, Account):
        raise AccountNotFoundError(str(account_id))
    return int(aggregate.balance)
