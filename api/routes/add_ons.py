"""An account's add-ons: a virtual number (995 SEK a year) and an unsubscribe link (495
SEK a year), 12-month commitment, 3-month notice; included in a post-invoicing
subscription. Fees fall due on the start date and each anniversary, as invoice lines."""

from datetime import date
from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from smsledger.api.deps import (
    AuthFirstRoute,
    MinPosition,
    ServicesDep,
    allow,
    answer_position,
    catch_up_reads,
    owned,
)
from smsledger.api.errors import problems
from smsledger.api.schemas import DIGITS, MAX_PAGE, AddOnCreate, AddOnPage, AddOnPublic, Cursor
from smsledger.application.ledger import Written
from smsledger.bootstrap import Services
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


class _AddOnFacts(Protocol):
    """What an answer shows: the aggregate and the view's row both have it."""

    @property
    def id(self) -> UUID: ...
    @property
    def kind(self) -> str: ...
    @property
    def number(self) -> str | None: ...
    @property
    def price_per_year(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def started_on(self) -> str: ...
    @property
    def notice_given_on(self) -> str | None: ...
    @property
    def ends_on(self) -> str | None: ...


def add_on_public(account: Account, a: _AddOnFacts) -> dict[str, Any]:
    included = account.payment_model == "post_invoice"
    start = date.fromisoformat(a.started_on)
    return {
        "id": a.id,
        "kind": a.kind,
        "number": a.number,
        "price_per_year": 0 if included else a.price_per_year,
        "currency": a.currency,
        "included": included,
        "started_on": start,
        "commitment_ends_on": commitment_end(start),
        "notice_given_on": date.fromisoformat(a.notice_given_on) if a.notice_given_on else None,
        "ends_on": date.fromisoformat(a.ends_on) if a.ends_on else None,
    }


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
    items = [add_on_public(account, r) for r in rows]
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
    account = services.ledger.get_account(owned(caller, account_id))
    written = order(services, account, body)
    add_on, ordered = written.value
    if not ordered:
        response.status_code = status.HTTP_200_OK
    answer_position(response, services.ledger, written.position)
    return add_on_public(account, add_on)


def order(services: Services, account: Account, body: AddOnCreate) -> Written[tuple[AddOn, bool]]:
    """Order an add-on for ``account`` (the API's POST and the console's form): 409
    while one of its kind has not ended, the same order the same day the same add-on."""
    ledger = services.ledger
    if body.number is not None and body.kind != "virtual_number":
        msg = "only a virtual number has a number"
        raise ConflictError(msg)
    today = local_date(ledger.now(), account.timezone)
    catch_up_reads(services)
    rows, _ = services.queries.add_ons(account.id, 1000)
    for r in rows:
        running = r.ends_on is None or today < date.fromisoformat(r.ends_on)
        if r.kind == body.kind and running and r.started_on != today.isoformat():
            msg = f"the account has a {body.kind} until {r.ends_on or 'notice is given'}"
            raise ConflictError(msg)
    return ledger.order_add_on(account.id, body.kind, body.number)


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
