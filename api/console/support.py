"""Support's pages: find a message (by id, recipient, batch or reference), its
timeline from the event store with an "as of" control, a recipient's messages and
block-list entry, a batch's messages, the account's webhook deliveries (each attempt,
and a re-send for the admin) and its inbound SMS. Every list pages by cursor on an
index."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from smsledger.api.console.web import (
    ADMIN,
    SUPPORT,
    CallerDep,
    ConsoleRoute,
    check_csrf,
    own,
    page,
    read_form,
    redirect,
    require,
    url_with,
)
from smsledger.api.deps import ServicesDep
from smsledger.api.present import blocklist_public
from smsledger.api.routes.webhooks import WebhookId
from smsledger.api.schemas import Cursor, Time
from smsledger.domain.batch import batch_id_for
from smsledger.domain.errors import BatchNotFoundError, NotFoundError
from smsledger.domain.text import check_line
from smsledger.projections.queries import Queries
from smsledger.workers.webhooks import resend

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

PAGE = 50
_TIME: TypeAdapter[Any] = TypeAdapter(Time)
Search = Annotated[str, Query(max_length=200)]
CursorQuery = Annotated[Cursor | None, Query()]


def _looks_like_number(text: str) -> bool:
    digits = text[1:] if text.startswith("+") else text
    return 5 <= len(digits) <= 20 and digits.isascii() and digits.isdigit()


@router.get("/messages", response_class=HTMLResponse)
def find(request: Request, services: ServicesDep, caller: CallerDep, q: Search = "") -> Response:
    """One box: a message id opens its timeline, a batch id or a batch's reference its
    batch, a phone number the recipient's page."""
    require(caller, SUPPORT)
    q = q.strip()
    account_id = caller.account_id
    if not q:
        return page(request, "console_find.html", caller, title="Find a message", q="")
    check_line(q, "the search", max_length=200)
    try:
        as_id = UUID(q)
    except ValueError:
        as_id = None
    if as_id is not None:
        if services.queries.message(as_id, account_id) is not None:
            return redirect(f"/console/messages/{as_id}")
        if _batch_of(services.ledger, as_id, account_id) is not None:
            return redirect(f"/console/batches/{as_id}")
    elif _looks_like_number(q):
        return redirect(f"/console/recipients/{Queries._recipient(q)}")
    else:
        batch_id = batch_id_for(account_id, q)
        if _batch_of(services.ledger, batch_id, account_id) is not None:
            return redirect(f"/console/batches/{batch_id}")
    return page(
        request,
        "console_find.html",
        caller,
        status=404,
        title="Find a message",
        q=q,
        message="Nothing of this account matches: no message or batch with that id, "
        "and no batch with that reference.",
    )


def _batch_of(ledger: Any, batch_id: UUID, account_id: UUID) -> Any:
    try:
        return ledger.get_batch(batch_id, account_id)
    except BatchNotFoundError:
        return None


@router.get("/messages/{message_id}", response_class=HTMLResponse)
def timeline(
    request: Request,
    message_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    as_of: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Every event of the message in order; with ``as_of``, the message as it stood
    then (later events are listed greyed, as not yet recorded)."""
    require(caller, SUPPORT)
    at = _TIME.validate_python(as_of.strip()) if as_of.strip() else None
    history = services.queries.history(message_id, None, caller.account_id)
    then = services.queries.history(message_id, at, caller.account_id) if at else history
    message = services.queries.message(message_id, caller.account_id)
    steps = []
    current = None
    for event in history["events"]:
        if event["status"] is not None:
            current = event["status"]
        data = event["data"]
        steps.append(
            {
                "version": event["version"],
                "type": event["type"],
                "at": event["at"],
                "carrier_at": data.get("carrier_at"),
                "raw": data.get("raw"),
                "code": data.get("code"),
                "changed": event["status"],
                "status": current,
                "superseded": event["type"] == "ReportSuperseded",
                "later": at is not None and event["at"] > at,
                "detail": {
                    k: v
                    for k, v in data.items()
                    if k not in {"raw", "carrier_at", "code", "status"}
                    and event["type"] != "Accepted"
                },
            }
        )
    return page(
        request,
        "console_timeline.html",
        caller,
        title=f"Message {message_id}",
        message_id=message_id,
        message=message,
        steps=steps,
        as_of=at,
        as_of_text=as_of.strip(),
        status_then=then["status"],
        accepted=history["events"][0]["data"] if history["events"] else {},
    )


@router.get("/recipients/{recipient}", response_class=HTMLResponse)
def recipient(
    request: Request,
    recipient: Annotated[str, Path(max_length=64)],
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
) -> Response:
    """A number's messages from this account, newest first, whether it is blocked, and
    its block-list history: when and why (manual, STOP with the SMS that asked, the
    unsubscribe link) it was blocked and unblocked."""
    require(caller, SUPPORT)
    number = Queries._recipient(recipient)
    items, next_cursor = services.queries.messages(
        caller.account_id, {"recipient": number}, PAGE, cursor, newest_first=True
    )
    account = services.ledger.get_account(caller.account_id)
    blocked = [b for b in blocklist_public(account)["items"] if b["msisdn"] == number]
    history = services.queries.number_history(number, caller.account_id)["accounts"]
    return page(
        request,
        "console_messages.html",
        caller,
        title=f"Recipient {number}",
        heading=f"Messages to {number}, newest first",
        items=items,
        blocked=blocked,
        block_history=history[0]["events"] if history else [],
        recipient=number,
        next_url=url_with(request.url.path, cursor=next_cursor) if next_cursor else None,
    )


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch(
    request: Request,
    batch_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
) -> Response:
    require(caller, SUPPORT)
    found = services.ledger.get_batch(batch_id, caller.account_id)
    items, next_cursor = services.queries.messages(
        caller.account_id, {"batch_id": batch_id}, PAGE, cursor
    )
    return page(
        request,
        "console_messages.html",
        caller,
        title=f"Batch {batch_id}",
        heading=f"Batch {batch_id}",
        batch=found,
        items=items,
        next_url=url_with(request.url.path, cursor=next_cursor) if next_cursor else None,
    )


@router.get("/accounts/{account_id}/webhook/deliveries", response_class=HTMLResponse)
def webhook_deliveries(
    request: Request,
    account_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
) -> Response:
    """The account's callbacks, newest first (the API's own query), each with every
    attempt, and whether its webhook's URL is active, paused or disabled, and why. The
    secret is never read here."""
    require(caller, SUPPORT)
    account = services.ledger.get_account(own(caller, account_id))
    reads = services.webhook_reads
    assert reads is not None
    config = account.webhook_config
    endpoint = None
    if config is not None:
        endpoint = {"url": config["url"], **reads.endpoint_state(account.id, config["url"])}
    items, next_cursor = reads.deliveries(account.id, PAGE, cursor)
    return page(
        request,
        "console_deliveries.html",
        caller,
        title="Webhook deliveries",
        account_name=account.name,
        account=account,
        endpoint=endpoint,
        items=items,
        may_resend=caller.may(ADMIN),
        next_url=url_with(request.url.path, cursor=next_cursor) if next_cursor else None,
    )


@router.post("/accounts/{account_id}/webhook/deliveries/{webhook_id}/resend")
async def resend_delivery(
    request: Request,
    account_id: UUID,
    webhook_id: WebhookId,
    services: ServicesDep,
    caller: CallerDep,
) -> Response:
    """Send one callback again, as the API's re-send does (the admin only)."""
    form = await read_form(request)
    check_csrf(form, caller.csrf)

    def again() -> None:
        require(caller, ADMIN)
        own(caller, account_id)
        if not resend(services.views, account_id, webhook_id, services.clock()):
            raise NotFoundError("this account has no such delivery")

    await run_in_threadpool(again)
    return redirect(f"/console/accounts/{account_id}/webhook/deliveries")


@router.get("/accounts/{account_id}/inbound", response_class=HTMLResponse)
def inbound(
    request: Request,
    account_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
) -> Response:
    """The SMS the account's virtual numbers received, newest first, and what each did."""
    require(caller, SUPPORT)
    account = services.ledger.get_account(own(caller, account_id))
    items, next_cursor = services.queries.inbound_messages(account.id, PAGE, cursor)
    return page(
        request,
        "console_inbound.html",
        caller,
        title="Inbound SMS",
        account_name=account.name,
        items=items,
        next_url=url_with(request.url.path, cursor=next_cursor) if next_cursor else None,
    )
