"""Inbound SMS: the gateway posts what recipients text to the accounts' virtual
numbers; an account reads its own. A STOP to an account with ``sms_stop`` on blocks the
sender and cancels, refunded, its messages to that number not yet handed off."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from smsledger.api.deps import (
    AuthFirstRoute,
    MinPosition,
    ServicesDep,
    allow,
    answer_position,
    owned,
)
from smsledger.api.errors import problems
from smsledger.api.schemas import (
    DIGITS,
    MAX_PAGE,
    Cursor,
    InboundBatch,
    InboundPage,
    InboundResults,
)
from smsledger.domain.access import Principal

router = APIRouter(tags=["inbound messages"], route_class=AuthFirstRoute)

Gateway = Annotated[Principal, allow("gateway", "operator")]
Reader = Annotated[Principal, allow("operator", "admin", "support")]


@router.post(
    "/v1/inbound-messages",
    response_model=InboundResults,
    responses=problems(401, 403, 409, 413, 503),
)
def post_inbound_messages(
    body: InboundBatch, services: ServicesDep, response: Response, _: Gateway
) -> dict[str, Any]:
    """Take SMS sent to virtual numbers, in order, in one transaction. Each is `stored`
    (routed to the account holding its `to` number at its `at`), a `duplicate` of a
    `gateway_ref` seen before (nothing done again), `unknown_number`, or `invalid` with
    a `reason`; a bad SMS never stops the others. A 409 with `Retry-After` wrote nothing:
    send the same batch again."""
    written = services.ledger.receive_inbound([m.model_dump(by_alias=True) for m in body.messages])
    answer_position(response, services.ledger, written.position)
    return {"results": written.value}


@router.get(
    "/v1/accounts/{account_id}/inbound-messages",
    response_model=InboundPage,
    dependencies=[MinPosition],
    responses=problems(401, 403, 404, 503),
)
def list_inbound_messages(
    account_id: UUID,
    services: ServicesDep,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, Any]:
    """The SMS the account's virtual numbers received, newest first."""
    services.ledger.get_account(owned(caller, account_id))
    items, next_cursor = services.queries.inbound_messages(account_id, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}
