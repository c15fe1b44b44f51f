"""An account's webhook (status callbacks): configure, read, remove, and its deliveries.

``PUT`` answers the signing secret once (Standard Webhooks' ``whsec_...``); a second PUT
rotates it, and the secret before keeps signing for 24 hours. ``GET`` never shows a
secret. Deliveries list each callback with every attempt; a re-send sends one again.
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response, status

from smsledger.api.deps import (
    AuthFirstRoute,
    MinPosition,
    ServicesDep,
    allow,
    answer_position,
    owned,
)
from smsledger.api.errors import not_found, problems
from smsledger.api.schemas import (
    DIGITS,
    Cursor,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookPublic,
)
from smsledger.bootstrap import Services
from smsledger.domain.access import Principal
from smsledger.domain.account import Account
from smsledger.domain.errors import InvalidRequestError
from smsledger.domain.webhooks import derive_secret
from smsledger.workers.webhooks import resend, resume_endpoint

router = APIRouter(
    prefix="/v1/accounts/{account_id}/webhook", tags=["webhooks"], route_class=AuthFirstRoute
)

Admin = Annotated[Principal, allow("admin", "operator")]
Reader = Annotated[Principal, allow("admin", "support", "operator")]
WebhookId = Annotated[str, Path(max_length=100, pattern="^msg_[0-9a-f]{32}$")]


def refuse_own_address(services: Services, url: str | None) -> None:
    """422 for a callback URL that names this service itself."""
    sender = services.callback_sender
    if url is not None and sender is not None and sender.is_own(url):
        raise InvalidRequestError("a callback URL may not point at this service itself")


def _public(services: Services, account: Account) -> dict[str, Any]:
    """The webhook from the account itself (strongly consistent), and its URL's state."""
    config = account.webhook_config
    if config is None:
        raise not_found("this account has no webhook")
    reads = services.webhook_reads
    assert reads is not None
    state = reads.endpoint_state(account.id, config["url"])
    until = config.get("previous_until")
    return {
        "url": config["url"],
        "events": config["events"],
        "configured_at": datetime.fromisoformat(config["configured_at"]),
        "previous_secret_valid_until": None if until is None else datetime.fromisoformat(until),
        "state": state["state"],
        "state_reason": state["reason"],
    }


@router.put("", response_model=WebhookCreated, responses=problems(401, 403, 404, 409, 413, 503))
def configure_webhook(
    account_id: UUID, body: WebhookCreate, services: ServicesDep, response: Response, caller: Admin
) -> dict[str, Any]:
    """Set the webhook's URL and events with a new secret, shown only here."""
    owned(caller, account_id)
    refuse_own_address(services, body.url)
    written = services.ledger.configure_webhook(account_id, body.url, body.events)
    account, nonce = written.value
    assert services.webhook_key is not None
    secret = derive_secret(services.webhook_key.get(), account_id, nonce)
    # A URL disabled by a 410 or paused before is the client's again once it says so.
    resume_endpoint(services.views, account_id, body.url, services.clock())
    answer_position(response, services.ledger, written.position)
    return {**_public(services, account), "secret": secret}


@router.get("", response_model=WebhookPublic, responses=problems(401, 403, 404, 503))
def read_webhook(account_id: UUID, services: ServicesDep, caller: Admin) -> dict[str, Any]:
    """The webhook without its secret, and whether its URL is active, paused or disabled."""
    owned(caller, account_id)
    return _public(services, services.ledger.get_account(account_id))


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401, 403, 404, 503))
def remove_webhook(
    account_id: UUID, services: ServicesDep, response: Response, caller: Admin
) -> Response:
    """Stop the account's callbacks; what is not delivered yet is not sent."""
    owned(caller, account_id)
    written = services.ledger.remove_webhook(account_id)
    if not written.value:
        raise not_found("this account has no webhook")
    answer_position(response, services.ledger, written.position)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=response.headers)


@router.get(
    "/deliveries",
    response_model=WebhookDeliveryPage,
    dependencies=[MinPosition],
    responses=problems(401, 403, 404, 503),
)
def list_deliveries(
    account_id: UUID,
    services: ServicesDep,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, Any]:
    """The account's callbacks, newest first, each with every attempt."""
    owned(caller, account_id)
    services.ledger.get_account(account_id)
    reads = services.webhook_reads
    assert reads is not None
    items, next_cursor = reads.deliveries(account_id, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/deliveries/{webhook_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(401, 403, 404, 503),
)
def resend_delivery(
    account_id: UUID, webhook_id: WebhookId, services: ServicesDep, caller: Admin
) -> dict[str, Any]:
    """Send one callback again, under the same ``webhook-id``; its endpoint resumes."""
    owned(caller, account_id)
    if not resend(services.views, account_id, webhook_id, services.clock()):
        raise not_found("this account has no such delivery")
    return {"id": webhook_id, "state": "pending"}
