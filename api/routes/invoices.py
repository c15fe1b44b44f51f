"""Invoices: one per account and calendar month (in the account's time zone)."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response

from smsledger.api.deps import (
    LedgerDep,
    MinPosition,
    ServicesDep,
    allow,
    answer_position,
    catch_up_reads,
    owned,
)
from smsledger.api.errors import problems
from smsledger.api.schemas import DIGITS, MAX_PAGE, Cursor, InvoicePage, InvoicePublic, Period
from smsledger.domain.access import Principal
from smsledger.domain.periods import parse_period

router = APIRouter(prefix="/v1/accounts/{account_id}/invoices", tags=["invoices"])

Reader = Annotated[Principal, allow("finance", "admin", "operator")]
Issuer = Annotated[Principal, allow("operator", "finance")]
PeriodPath = Annotated[Period, Path(description="YYYY-MM")]


@router.get(
    "",
    response_model=InvoicePage,
    dependencies=[MinPosition],
    responses=problems(401, 403, 404, 503),
)
def list_invoices(
    account_id: UUID,
    services: ServicesDep,
    ledger: LedgerDep,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> Any:
    """The account's invoices, newest period first, each with its status and total."""
    ledger.get_account(owned(caller, account_id))
    items, next_cursor = services.queries.invoices(account_id, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/{period}",
    response_model=InvoicePublic,
    dependencies=[MinPosition],
    responses=problems(401, 403, 404, 503),
)
def read_invoice(
    account_id: UUID,
    period: PeriodPath,
    services: ServicesDep,
    ledger: LedgerDep,
    caller: Reader,
) -> Any:
    ledger.get_account(owned(caller, account_id))
    return services.queries.invoice(account_id, period)


@router.post(
    "/{period}/issue", response_model=InvoicePublic, responses=problems(401, 403, 404, 409, 503)
)
def issue_invoice(
    account_id: UUID,
    period: PeriodPath,
    services: ServicesDep,
    ledger: LedgerDep,
    response: Response,
    caller: Issuer,
) -> Any:
    """Issue the month's invoice; 409 before the period has ended. Issuing again changes
    nothing; either way the answer is the invoice as issued."""
    ledger.get_account(owned(caller, account_id))
    parse_period(period)
    position = ledger.issue_invoice(account_id, period).position
    catch_up_reads(services, position)
    answer_position(response, ledger, position)
    return services.queries.invoice(account_id, period)
