"""Messages: send a batch, read one or many, replay a history, cancel."""

import re
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from smsledger.adapters.keys import lookup_hash
from smsledger.adapters.people import SESSION_PREFIX
from smsledger.api.deps import (
    AuthFirstRoute,
    Credentials,
    MinPosition,
    MinPositionHeader,
    ServicesDep,
    allow,
    answer_position,
    authenticate,
    bearer_token,
    check_role,
    is_operator_token,
    scope_of,
    services_of,
    wait_for,
)
from smsledger.api.errors import problems, unauthorized
from smsledger.api.present import batch_public
from smsledger.api.responses import OrjsonResponse
from smsledger.api.routes.contacts import expand_groups
from smsledger.api.routes.webhooks import refuse_own_address
from smsledger.api.schemas import (
    DIGITS,
    MAX_PAGE,
    BatchCreate,
    BatchPublic,
    Cursor,
    HistoryPublic,
    MessagePage,
    MessagePublic,
    Msisdn,
    Time,
)
from smsledger.bootstrap import Services
from smsledger.domain.access import Principal, Role
from smsledger.domain.errors import InvalidRequestError, MessageNotFoundError
from smsledger.projections.queries import message_object

router = APIRouter(prefix="/v1/messages", tags=["messages"], route_class=AuthFirstRoute)

Sender = Annotated[Principal, allow("sender", "admin")]
READERS: tuple[Role, ...] = ("sender", "admin", "support", "operator")
HISTORY_READERS: tuple[Role, ...] = ("support", "admin", "operator")
READER_ROLES = frozenset(READERS)
Reader = Annotated[Principal, allow(*READERS)]
MAX_SCHEDULE_AHEAD = timedelta(days=366)
Group = Annotated[str | None, Query(pattern="^(Info|Success|Rejection|Error)$")]


def check_recipient_count(recipients: list[str], limit: int) -> None:
    """``SMSLEDGER_MAX_RECIPIENTS`` below the contract's 10,000: the same 422 as the
    schema's own bound (which OpenAPI shows at the configured value, ``api.main``)."""
    if len(recipients) > limit:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "recipients"),
                    "msg": f"List should have at most {limit} items, not {len(recipients)}",
                    "input": None,
                }
            ]
        )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchPublic,
    responses=problems(401, 403, 409, 413, 503),
)
def send_batch(
    body: BatchCreate,
    services: ServicesDep,
    response: Response,
    caller: Sender,
    x_ledger_min_position: MinPositionHeader = None,
) -> dict[str, Any]:
    """Accept one message per recipient, priced and funded in one transaction.

    A recipient that fails a rule is a message with its 4xx status, not an HTTP error;
    the same ``reference`` again answers the first receipt and charges nothing.
    ``groups``: their members (from the read model) are recipients too, each once.
    """
    assert caller.account_id is not None
    limit = services.settings.max_recipients
    check_recipient_count(body.recipients, limit)
    recipients = body.recipients
    if body.groups and body.reference is not None:
        # A retry answers the first receipt, whatever the groups hold now: checked before
        # they are expanded again (a group emptied or grown past the cap since would
        # otherwise refuse the retry of a send that was made).
        replayed = services.ledger.replayed_batch(caller.account_id, body.reference)
        if replayed is not None:
            answer_position(response, services.ledger, replayed.position)
            return batch_public(replayed)
    if body.groups:
        wait_for(services, x_ledger_min_position)
        recipients = expand_groups(services, caller.account_id, recipients, body.groups, limit)
        check_recipient_count(recipients, limit)
    refuse_own_address(services, body.status_callback)
    if body.send_at is not None and body.send_at > services.clock() + MAX_SCHEDULE_AHEAD:
        raise InvalidRequestError("send_at may be at most a year ahead")
    receipt = services.ledger.send_batch(
        caller.account_id,
        sender=body.sender,
        recipients=recipients,
        body=body.body,
        validity_period=body.validity_period,
        send_at=body.send_at,
        reference=body.reference,
        status_callback=body.status_callback,
    )
    answer_position(response, services.ledger, receipt.position)
    return batch_public(receipt)


@router.get(
    "",
    response_model=MessagePage,
    dependencies=[MinPosition],
    responses=problems(401, 403, 503),
)
def list_messages(
    services: ServicesDep,
    caller: Reader,
    batch_id: UUID | None = None,
    status_code: Annotated[int | None, Query(alias="status", ge=100, le=599), DIGITS] = None,
    group: Group = None,
    recipient: Annotated[Msisdn | None, Query()] = None,
    created_after: Time | None = None,
    created_before: Time | None = None,
    account_id: Annotated[
        UUID | None, Query(description="Operator only: one account's messages.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
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


def read_message(
    message_id: UUID,
    request: Request,
    credentials: Credentials,
    x_ledger_min_position: MinPositionHeader = None,
) -> OrjsonResponse:
    services = services_of(request)
    wait_for(services, x_ledger_min_position)
    return _message_answer(services, message_id, bearer_token(credentials))


def _message_answer(services: Services, message_id: UUID, token: str) -> OrjsonResponse:
    # One round trip: the key is looked up (revocation included) in the same query as
    # the message. The row goes straight to orjson (its shape is the read model's,
    # checked by the tests), skipping a second validation of what we just built.
    queries = services.queries
    if is_operator_token(services, token):
        found = queries.message(message_id, None)
    elif token.startswith(SESSION_PREFIX):  # a person logged in
        person = services.sessions.authenticate(token, services.clock())
        if person is None:
            raise unauthorized("unknown or revoked token")
        found = queries.message(message_id, scope_of(check_role(person, READER_ROLES)))
    elif services.read_views is not None:
        # Reads from a standby: the key on the primary (a revocation counts at once),
        # the message from the standby's view, limited to the key's account.
        key = services.keys.authenticate(token)
        if key is None:
            raise unauthorized("unknown or revoked token")
        found = queries.message(message_id, scope_of(check_role(key, READER_ROLES)))
    else:
        key_hash = lookup_hash(token)
        keyed = None if key_hash is None else services.keys.message_for_key(message_id, key_hash)
        if keyed is None:
            raise unauthorized("unknown or revoked token")
        caller, found = keyed
        # The same 403s as ``allow(*READERS)``; ``found`` is already limited to the
        # caller's account, so another account's message is as unknown as a missing one.
        scope_of(check_role(caller, READER_ROLES))
    if found is None:
        raise MessageNotFoundError(str(message_id))
    return OrjsonResponse(found)


_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


class _MessageReadRoute(APIRoute):
    """``read_message`` without FastAPI's per-request parameter solving, which costs more
    than the read itself. The plain request (a canonical UUID, a bearer token, no
    ``X-Ledger-Min-Position``) goes straight to ``_message_answer`` in one thread-pool
    hop; anything else takes the standard handler, so every edge (a 422, a missing
    token, the position wait) answers exactly as declared. OpenAPI is built from the
    declared signature as for any route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        standard = super().get_route_handler()

        async def handle(request: Request) -> Response:
            message_id = request.path_params["message_id"]
            # HTTPBearer's reading of the header: the scheme, one space, the token.
            scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
            token = token.strip()
            if (
                scheme.lower() != "bearer"
                or not token
                or "x-ledger-min-position" in request.headers
                or not _CANONICAL_UUID.fullmatch(message_id)
            ):
                return await standard(request)
            return await run_in_threadpool(
                _message_answer, services_of(request), UUID(message_id), token
            )

        return handle


router.add_api_route(
    "/{message_id}",
    read_message,
    methods=["GET"],
    response_model=None,
    responses={
        200: {"model": MessagePublic, "description": "The message"},
        **problems(401, 403, 404, 503),
    },
    route_class_override=_MessageReadRoute,
)


@router.get(
    "/{message_id}/history",
    response_model=HistoryPublic,
    responses=problems(401, 403, 404, 503),
)
def message_history(
    message_id: UUID,
    services: ServicesDep,
    credentials: Credentials,
    as_of: Time | None = None,
) -> Any:
    """The message's events from the event store; with ``as_of``, only those recorded
    by then, and its status at that instant."""
    # One hop, one replay: authenticated here, and the owner checked on the replay.
    caller = authenticate(services, credentials, *HISTORY_READERS)
    return services.queries.history(message_id, as_of, scope_of(caller))


@router.post(
    "/{message_id}/cancel",
    response_model=MessagePublic,
    responses=problems(401, 403, 404, 409, 503),
)
def cancel_message(
    message_id: UUID, services: ServicesDep, response: Response, caller: Sender
) -> dict[str, Any]:
    """Cancel before hand-off: 203 Canceled, and its price refunded. 409 afterwards."""
    written = services.ledger.cancel(message_id, caller.account_id)
    answer_position(response, services.ledger, written.position)
    return message_object(written.value)
