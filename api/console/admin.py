"""The admin's pages: users (invite, disable), API keys (create: the secret shown once;
revoke), the block list (add, remove), add-ons (order, give notice) and the stop service.
Each form is a POST with the session's CSRF token, validated by the API's own schemas and
handed to the same use cases as the API's routes; a success redirects back (303)."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from smsledger.api.console.web import (
    ADMIN,
    Caller,
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
from smsledger.api.routes.add_ons import add_on_public, order
from smsledger.api.schemas import (
    AddOnCreate,
    BlockCreate,
    ContactCreate,
    Cursor,
    KeyCreate,
    StopServiceUpdate,
    UserCreate,
)
from smsledger.bootstrap import Services
from smsledger.domain.access import ACCOUNT_ROLES, Role
from smsledger.domain.errors import NotFoundError

router = APIRouter(prefix="/console/accounts", include_in_schema=False, route_class=ConsoleRoute)

PAGE = 100
CONTACT_READERS: frozenset[Role] = frozenset({"admin", "sender", "support"})
CONTACT_WRITERS: frozenset[Role] = frozenset({"admin", "sender"})
CursorQuery = Annotated[Cursor | None, Query()]


def _admin(services: Services, caller: Caller, account_id: UUID) -> Any:
    require(caller, ADMIN)
    return services.ledger.get_account(own(caller, account_id))


async def _form(request: Request, caller: Caller) -> dict[str, str]:
    """The form's fields once its CSRF token checks out (the token itself removed)."""
    form = await read_form(request)
    check_csrf(form, caller.csrf)
    form.pop("csrf")
    return form


# --- users ------------------------------------------------------------------------------


@router.get("/{account_id}/users", response_class=HTMLResponse)
def users(
    request: Request,
    account_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
) -> Response:
    account = _admin(services, caller, account_id)
    items, next_cursor = services.queries.users(account_id, PAGE, cursor)
    return page(
        request,
        "console_users.html",
        caller,
        title="Users",
        account_name=account.name,
        account=account,
        items=items,
        roles=ACCOUNT_ROLES,
        next_url=url_with(request.url.path, cursor=next_cursor) if next_cursor else None,
    )


@router.post("/{account_id}/users")
async def invite_user(
    request: Request, account_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    """The API's invitation: a user, and a mail with their one-time link."""
    form = await _form(request, caller)
    body = UserCreate.model_validate(form)
    await run_in_threadpool(_admin, services, caller, account_id)

    def invite() -> None:
        services.people.invite(account_id, body.email, body.name, body.role)
        services.runner.catch_up()  # the list it returns to shows the new user

    await run_in_threadpool(invite)
    return redirect(f"/console/accounts/{account_id}/users")


@router.post("/{account_id}/users/{user_id}/disable")
async def disable_user(
    request: Request, account_id: UUID, user_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    """Disabled: the user's sessions end at once (the record stays, for the audit)."""
    await _form(request, caller)

    def disable() -> None:
        _admin(services, caller, account_id)
        services.ledger.get_user(user_id, account_id)  # another account's user: 404
        services.people.change(user_id, None, None, "disabled")
        services.runner.catch_up()

    await run_in_threadpool(disable)
    return redirect(f"/console/accounts/{account_id}/users")


# --- keys -------------------------------------------------------------------------------


@router.get("/{account_id}/keys", response_class=HTMLResponse)
def keys(
    request: Request,
    account_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
) -> Response:
    return _keys_page(request, services, caller, account_id, cursor)


def _keys_page(
    request: Request,
    services: Services,
    caller: Caller,
    account_id: UUID,
    cursor: str | None,
    issued: Any = None,
) -> Response:
    account = _admin(services, caller, account_id)
    items, next_cursor = services.keys.list_keys(account_id, PAGE, cursor)
    return page(
        request,
        "console_keys.html",
        caller,
        status=201 if issued else 200,
        title="API keys",
        account_name=account.name,
        account=account,
        items=items,
        roles=ACCOUNT_ROLES,
        issued=issued,
        next_url=url_with(request.url.path, cursor=next_cursor) if next_cursor else None,
    )


@router.post("/{account_id}/keys", response_class=HTMLResponse)
async def issue_key(
    request: Request, account_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    """A new key; its secret is on this answer alone (never stored, never shown again)."""
    form = await _form(request, caller)
    body = KeyCreate.model_validate(form)

    def issue() -> Response:
        _admin(services, caller, account_id)
        key = services.keys.issue(body.role, account_id, services.clock())
        return _keys_page(request, services, caller, account_id, None, issued=key)

    return await run_in_threadpool(issue)


@router.post("/{account_id}/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, account_id: UUID, key_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    await _form(request, caller)

    def revoke() -> None:
        _admin(services, caller, account_id)
        key = services.keys.find(key_id)
        if key is None or key.account_id != account_id:
            raise NotFoundError("no such key")
        services.keys.revoke(key_id, services.clock())

    await run_in_threadpool(revoke)
    return redirect(f"/console/accounts/{account_id}/keys")


# --- block list -------------------------------------------------------------------------


@router.get("/{account_id}/blocklist", response_class=HTMLResponse)
def blocklist(
    request: Request, account_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    account = _admin(services, caller, account_id)
    return page(
        request,
        "console_blocklist.html",
        caller,
        title="Block list",
        account_name=account.name,
        account=account,
        items=blocklist_public(account)["items"],
    )


@router.post("/{account_id}/blocklist")
async def block_number(
    request: Request, account_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    form = await _form(request, caller)
    body = BlockCreate.model_validate(form)

    def block() -> None:
        _admin(services, caller, account_id)
        services.ledger.block_number(account_id, body.msisdn, "manual")

    await run_in_threadpool(block)
    return redirect(f"/console/accounts/{account_id}/blocklist")


@router.post("/{account_id}/blocklist/{msisdn}/remove")
async def unblock_number(
    request: Request,
    account_id: UUID,
    msisdn: Annotated[str, Path(max_length=64)],
    services: ServicesDep,
    caller: CallerDep,
) -> Response:
    await _form(request, caller)

    def unblock() -> None:
        _admin(services, caller, account_id)
        if not services.ledger.unblock_number(account_id, msisdn).value:
            raise NotFoundError("that number is not on the block list")

    await run_in_threadpool(unblock)
    return redirect(f"/console/accounts/{account_id}/blocklist")


# --- add-ons ----------------------------------------------------------------------------


@router.get("/{account_id}/add-ons", response_class=HTMLResponse)
def add_ons(
    request: Request,
    account_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
) -> Response:
    account = _admin(services, caller, account_id)
    rows, next_cursor = services.queries.add_ons(account_id, PAGE, cursor)
    sms_stop, unsubscribe_link = services.ledger.stop_service(account, services.clock())
    return page(
        request,
        "console_add_ons.html",
        caller,
        title="Add-ons and stop service",
        account_name=account.name,
        account=account,
        stop={"sms_stop": sms_stop, "unsubscribe_link": unsubscribe_link},
        items=[add_on_public(account, r) for r in rows],
        next_url=url_with(request.url.path, cursor=next_cursor) if next_cursor else None,
    )


@router.post("/{account_id}/add-ons")
async def order_add_on(
    request: Request, account_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    """The API's order: 409 while one of the kind runs; the same order today, the same."""
    form = await _form(request, caller)
    if not form.get("number"):
        form.pop("number", None)
    body = AddOnCreate.model_validate(form)

    def place() -> None:
        order(services, _admin(services, caller, account_id), body)
        services.runner.catch_up()  # the list it returns to shows the new add-on

    await run_in_threadpool(place)
    return redirect(f"/console/accounts/{account_id}/add-ons")


@router.post("/{account_id}/add-ons/{add_on_id}/notice")
async def give_notice(
    request: Request, account_id: UUID, add_on_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    await _form(request, caller)

    def notice() -> None:
        _admin(services, caller, account_id)
        services.ledger.get_add_on(add_on_id, account_id)  # another account's: 404
        services.ledger.give_add_on_notice(add_on_id)
        services.runner.catch_up()

    await run_in_threadpool(notice)
    return redirect(f"/console/accounts/{account_id}/add-ons")


@router.post("/{account_id}/stop-service")
async def set_stop_service(
    request: Request, account_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    """The API's PUT: each part on or off (a box not ticked is off); a part switched on
    without its add-on or a subscription is 409 and changes nothing."""
    form = await _form(request, caller)
    unknown = set(form) - {"sms_stop", "unsubscribe_link"}
    body = StopServiceUpdate.model_validate(
        {
            **{k: form[k] for k in unknown},  # refused by the schema: no unknown fields
            "sms_stop": form.get("sms_stop") == "on",
            "unsubscribe_link": form.get("unsubscribe_link") == "on",
        }
    )

    def switch() -> None:
        _admin(services, caller, account_id)
        services.ledger.set_stop_service(
            account_id, sms_stop=body.sms_stop, unsubscribe_link=body.unsubscribe_link
        )

    await run_in_threadpool(switch)
    return redirect(f"/console/accounts/{account_id}/add-ons")


# --- contacts (the API's roles: read admin, sender, support; write admin, sender) --------


@router.get("/{account_id}/contacts", response_class=HTMLResponse)
def contacts(
    request: Request,
    account_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
) -> Response:
    require(caller, CONTACT_READERS)
    account = services.ledger.get_account(own(caller, account_id))
    items, next_cursor = services.queries.contacts(account_id, None, PAGE, cursor)
    return page(
        request,
        "console_contacts.html",
        caller,
        title="Contacts",
        account_name=account.name,
        account=account,
        items=items,
        may_write=caller.may(CONTACT_WRITERS),
        next_url=url_with(request.url.path, cursor=next_cursor) if next_cursor else None,
    )


@router.post("/{account_id}/contacts")
async def save_contact(
    request: Request, account_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    """The API's save: one contact per number (the same number again updates it); the
    groups field is names separated by commas."""
    form = await _form(request, caller)
    groups = [g.strip() for g in form.pop("groups", "").split(",") if g.strip()]
    body = ContactCreate.model_validate({**form, "groups": groups})

    def save() -> None:
        require(caller, CONTACT_WRITERS)
        services.ledger.save_contact(
            own(caller, account_id),
            body.msisdn,
            first_name=body.first_name,
            last_name=body.last_name,
            groups=body.groups,
            source="manual",
        )
        services.runner.catch_up()  # the list it returns to shows the contact

    await run_in_threadpool(save)
    return redirect(f"/console/accounts/{account_id}/contacts")


@router.post("/{account_id}/contacts/{contact_id}/delete")
async def delete_contact(
    request: Request, account_id: UUID, contact_id: UUID, services: ServicesDep, caller: CallerDep
) -> Response:
    await _form(request, caller)

    def delete() -> None:
        require(caller, CONTACT_WRITERS)
        services.ledger.delete_contact(own(caller, account_id), contact_id)
        services.runner.catch_up()

    await run_in_threadpool(delete)
    return redirect(f"/console/accounts/{account_id}/contacts")
