"""Messages: send a batch, read one or many, replay a history, cancel."""

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from api.deps import (
    Credentials,
    MinPosition,
    ServicesDep,
    allow,
    answer_position,
    authenticate,
    scope_of,
)
from api.present import batch_public, message_public
from api.responses import OrjsonResponse
from api.schemas import (
    MAX_PAGE,
    BatchCreate,
    BatchPublic,
    HistoryPublic,
    MessagePage,
    MessagePublic,
    Time,
)
from domain.errors import InvalidRequestError, MessageNotFoundError
from smsledger.keys import Principal, Role

router = APIRouter(prefix="/v1/messages", tags=["messages"])

Sender = Annotated[Principal, allow("sender", "admin")]
READERS: tuple[Role, ...] = ("sender", "admin", "support", "operator")
HISTORY_READERS: tuple[Role, ...] = ("support", "admin", "operator")
Reader = Annotated[Principal, allow(*READERS)]
MAX_SCHEDULE_AHEAD = timedelta(days=366)
Group = Annotated[str | None, Query(pattern="^(Info|Success|Rejection|Error)$")]


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=BatchPublic)
def send_batch(
    body: BatchCreate, services: ServicesDep, response: Response, caller: Sender
) -> dict[str, Any]:
    """Accept one message per recipient, priced and funded in one transaction.

    A recipient that fails a rule is a message with its 4xx status, not an HTTP error;
    the same ``reference`` again answers the first receipt and charges nothing.
    """
    assert caller.account_id is not None
    if body.send_at is not None and body.send_at > services.clock() + MAX_SCHEDULE_AHEAD:
        raise InvalidRequestError("send_at may be at most a year ahead")
    receipt = services.ledger.send_batch(
        caller.account_id,
        sender=body.sender,
        recipients=body.recipients,
        body=body.body,
        validity_period=body.validity_period,
        send_at=body.send_at,
        reference=body.reference,
    )
    answer_position(response, services.ledger, receipt.position)
    return batch_public(receipt)


@router.get("", response_model=MessagePage, dependencies=[MinPosition])
def list_messages(
    services: ServicesDep,
    caller: Reader,
    batch_id: UUID | None = None,
    status_code: Annotated[int | None, Query(alias="status", ge=100, le=599)] = None,
    group: Group = None,
    recipient: Annotated[str | None, Query(max_length=64)] = None,
    created_after: Time | None = None,
    created_before: Time | None = None,
    account_id: Annotated[
        UUID | None, Query(description="Operator only: one account's messages.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    scope = scope_of(caller)
    if scope is not None:
        if account_id is not None and account_id != scope:
            return {"items": [], "next_cursor": None}
        account_id = scope
    queries = services.queries
    items, next_cursor = queries.messages(
        account_id,
        {
            "batch_id": batch_id,
            "status": status_code,
            "group": group,
            "recipient": recipient,
            "created_after": created_after,
            "created_before": created_before,
        },
        limit,
        cursor,
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/{message_id}",
    response_model=None,
    responses={200: {"model": MessagePublic, "description": "The message"}},
    dependencies=[MinPosition],
)
def read_message(
    message_id: UUID, services: ServicesDep, credentials: Credentials
) -> OrjsonResponse:
    # The hottest read: the caller is authenticated here, in the same thread-pool hop as
    # the read, and the row goes straight to orjson (its shape is the read model's,
    # checked by the tests), skipping a second validation of what we just built.
    caller = authenticate(services, credentials, *READERS)
    found = services.queries.message(message_id, scope_of(caller))
    if found is None:
        raise MessageNotFoundError(str(message_id))
    return OrjsonResponse(found)


@router.get("/{message_id}/history", response_model=HistoryPublic)
def message_history(
    message_id: UUID,
    services: ServicesDep,
    credentials: Credentials,
    as_of: Time | None = None,
) -> Any:
    """The message's events from the event store, and its status as of ``as_of``."""
    # One hop, one replay: authenticated here, and the owner checked on the replay.
    caller = authenticate(services, credentials, *HISTORY_READERS)
    return services.queries.history(message_id, as_of, scope_of(caller))


@router.post("/{message_id}/cancel", response_model=MessagePublic)
def cancel_message(
    message_id: UUID, services: ServicesDep, response: Response, caller: Sender
) -> dict[str, Any]:
    """Cancel before hand-off: 203 Canceled, and its price refunded. 409 afterwards."""
    written = services.ledger.cancel(message_id, caller.account_id)
    answer_position(response, services.ledger, written.position)
    return message_public(written.value)
