"""The event log as the read side sees it: an eventsourcing ``Application``.

Projections read the log (``recorder``, ``mapper``) and, for history and as-of, the
aggregates themselves (``repository``, ``events``); they never write. Typed as the
library's ``Application`` so the read side needs nothing of the use cases.
"""

from __future__ import annotations

from typing import TypeAlias
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from smsledger.domain.account import Account
from smsledger.domain.errors import AccountNotFoundError

EventLog: TypeAlias = Application[UUID]


def account_of(log: EventLog, account_id: UUID) -> Account:
    """The account from the event store; ``AccountNotFoundError`` for any other id."""
    try:
        aggregate: object = log.repository.get(account_id)
    except AggregateNotFoundError:
        raise AccountNotFoundError(str(account_id)) from None
    if not isinstance(aggregate, Account):
        raise AccountNotFoundError(str(account_id))
    return aggregate
