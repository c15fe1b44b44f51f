"""An account's add-ons: a virtual number (995 SEK a year) and an unsubscribe link (495
SEK a year), 12-month commitment, 3-month notice; included in a post-invoicing
subscription. Fees fall due on the start date and each anniversary, as invoice lines."""

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from smsledger.api.deps import (
    AuthFirstRoute,
    MinPosition,
    ServicesDep,
    allow,
    answer_position,
    owned,
)
from smsledger.api.errors import problems
from smsledger.api.schemas import DIGITS, MAX_PAGE, AddOnCreate, AddOnPage, AddOnPublic, Cursor
from smsledger.domain.access import Principal
from smsledger.domain.account import Account
from smsledger.domain.addons import AddOn, commitment_end
from smsledger.domain.errors import ConflictError
from smsledger.domain.periods import local_date

router = APIRouter(
    prefix="/v1/accounts/{account_id}/add-ons", tags=["add-ons"], route_class=AuthFirstRoute
)

Manager = Annotated[Principal, allow("operator", "admin")]
Reader = Annotated[Principal, allow("operator", "admin", "finance")]


def _public(
    account: Account,
    add_on_id: UUID,
    kind: str,
    number: str | None,
    price: int,
    currency: str,
    started_on: str,
    notice_given_on: str | None,
    ends_on: str | None,
) -> dict[str, Any]:
    included = account.payment_model == "post_invoice"
    start = date.fromisoformat(started_on)
    return {
        "id": add_on_id,
        "kind": kind,
        "number": number,
        "price_per_year": 0 if included else price,
        "currency": currency,
        "included": included,
        "started_on": start,
        "commitment_ends_on": commitment_end(start),
        "notice_given_on": date.fromisoformat(notice_given_on) if notice_given_on else None,
        "ends_on": date.fromisoformat(ends_on) if ends_on else None,
    }


def add_on_public(account: Account, a: AddOn) -> dict[str, Any]:
    return _public(
        account,
        a.id,
        a.kind,
        a.number,
        a.price_per_year,
        a.currency,
        a.started_on,
        a.notice_given_on,
        a.ends_on,
    )


@router.get(
    "", response_model=AddOnPage, dependencies=[MinPosition], responses=problems(401, 403, 404, 503)
)
def list_add_ons(
    account_id: UUID,
    services: ServicesDep,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, Any]:
    account = services.ledger.get_account(owned(caller, account_id))
    rows, next_cursor = services.queries.add_ons(account_id, limit, cursor)
    items = [
        _public(
            account,
            r.id,
            r.kind,
            r.number,
            r.price_per_year,
            r.currency,
            r.started_on,
            r.notice_given_on,
            r.ends_on,
        )
        for r in rows
    ]
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AddOnPublic,
    responses={
        200: {"model": AddOnPublic, "description": "Ordered today already"},
        **problems(401, 403, 404, 409, 413, 503),
    },
)
def order_add_on(
    account_id: UUID, body: AddOnCreate, services: ServicesDep, response: Response, caller: Manager
) -> dict[str, Any]:
    """Order an add-on, starting today in the account's time zone; its first year's fee
    falls due today. 409 while the account has one of that kind that has not ended."""
    ledger = services.ledger
    account = ledger.get_account(owned(caller, account_id))
    if body.number is not None and body.kind != "virtual_number":
        msg = "only a virtual number has a number"
        raise ConflictError(msg)
    today = local_date(ledger.now(), account.timezone)
    services.runner.catch_up()
    rows, _ = services.queries.add_ons(account_id, 1000)
    for r in rows:
        running = r.ends_on is None or today < date.fromisoformat(r.ends_on)
        if r.kind == body.kind and running and r.started_on != today.isoformat():
            msg = f"the account has a {body.kind} until {r.ends_on or 'notice is given'}"
            raise ConflictError(msg)
    written = ledger.order_add_on(account_id, body.kind, body.number)
    add_on, ordered = written.value
    if not ordered:
        response.status_code = status.HTTP_200_OK
    answer_position(response, ledger, written.position)
    return add_on_public(account, add_on)


@router.delete("/{add_on_id}", response_model=AddOnPublic, responses=problems(401, 403, 404, 503))
def give_notice(
    account_id: UUID, add_on_id: UUID, services: ServicesDep, response: Response, caller: Manager
) -> dict[str, Any]:
    """Give notice today: the add-on ends on the later of its commitment's end and three
    months from today (`ends_on`); the fees of the years that start before are owed.
    Notice given before: the same answer."""
    ledger = services.ledger
    account = ledger.get_account(owned(caller, account_id))
    ledger.get_add_on(add_on_id, account_id)
    written = ledger.give_add_on_notice(add_on_id)
    answer_position(response, ledger, written.position)
    return add_on_public(account, written.value[0])
