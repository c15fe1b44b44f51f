"""Accounts: open (operator), read, change the payment model, top up."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from smsledger.api.deps import (
    AuthFirstRoute,
    LedgerDep,
    MinPosition,
    ServicesDep,
    allow,
    answer_position,
    owned,
    scope_of,
)
from smsledger.api.errors import problems
from smsledger.api.present import account_public
from smsledger.api.schemas import (
    DIGITS,
    MAX_PAGE,
    AccountCreate,
    AccountCreated,
    AccountPage,
    AccountPublic,
    Cursor,
    PaymentModelUpdate,
    TopUpCreate,
    TopUpPublic,
)
from smsledger.domain.access import Principal

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], route_class=AuthFirstRoute)

Operator = Annotated[Principal, allow("operator")]
OperatorOrAdmin = Annotated[Principal, allow("operator", "admin")]
AnyAccountReader = Annotated[Principal, allow("operator", "admin", "sender", "support", "finance")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountCreated,
    responses=problems(401, 403, 413, 503),
)
def open_account(
    body: AccountCreate, services: ServicesDep, response: Response, _: Operator
) -> dict[str, object]:
    """Open an account; the answer carries its first admin key, shown only this once."""
    written = services.ledger.open_account(
        body.name, body.payment_model, body.currency, body.timezone
    )
    account = written.value
    key = services.keys.issue("admin", account.id, services.clock())
    answer_position(response, services.ledger, written.position)
    return {**account_public(account), "admin_key": key.key}


@router.get(
    "", response_model=AccountPage, dependencies=[MinPosition], responses=problems(401, 403, 503)
)
def list_accounts(
    services: ServicesDep,
    caller: OperatorOrAdmin,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, object]:
    """Accounts in the order they were opened, from the read model (an admin sees its
    own only)."""
    items, next_cursor = services.queries.accounts(scope_of(caller), limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{account_id}", response_model=AccountPublic, responses=problems(401, 403, 404, 503))
def read_account(
    account_id: UUID, ledger: LedgerDep, caller: AnyAccountReader
) -> dict[str, object]:
    return account_public(ledger.get_account(owned(caller, account_id)))


@router.put(
    "/{account_id}/payment-model",
    response_model=AccountPublic,
    responses=problems(401, 403, 404, 409, 413, 503),
)
def change_payment_model(
    account_id: UUID,
    body: PaymentModelUpdate,
    ledger: LedgerDep,
    response: Response,
    caller: OperatorOrAdmin,
) -> dict[str, object]:
    written = ledger.change_payment_model(owned(caller, account_id), body.payment_model)
    answer_position(response, ledger, written.position)
    return account_public(written.value)


@router.post(
    "/{account_id}/top-ups",
    status_code=status.HTTP_201_CREATED,
    response_model=TopUpPublic,
    responses={
        200: {"model": TopUpPublic, "description": "The same reference again: no credit"},
        **problems(401, 403, 404, 409, 413, 503),
    },
)
def top_up(
    account_id: UUID, body: TopUpCreate, ledger: LedgerDep, response: Response, _: Operator
) -> dict[str, object]:
    """Credit the balance once per reference; the same reference again changes nothing."""
    written = ledger.top_up(account_id, body.amount, body.reference)
    account, created = written.value
    if not created:
        response.status_code = status.HTTP_200_OK
    answer_position(response, ledger, written.position)
    return {"balance": account.balance}
