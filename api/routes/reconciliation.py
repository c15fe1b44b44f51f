"""Reconciliation: charges, refunds, top-ups, invoices and balances, checked per account."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from smsledger.api.deps import LedgerDep, MinPosition, ServicesDep, allow, owned
from smsledger.api.errors import problems
from smsledger.api.schemas import Period, ReconciliationPublic
from smsledger.domain.access import Principal

router = APIRouter(prefix="/v1/reconciliation", tags=["reconciliation"])

Reader = Annotated[Principal, allow("operator", "finance")]


@router.get(
    "",
    response_model=ReconciliationPublic,
    response_model_exclude_unset=True,  # a discrepancy's message_id only where it has one
    dependencies=[MinPosition],
    responses=problems(401, 403, 404, 503),
)
def reconcile(
    services: ServicesDep,
    ledger: LedgerDep,
    caller: Reader,
    period: Annotated[Period, Query(description="YYYY-MM")],
    account_id: UUID | None = None,
) -> Any:
    """The operator sees every account (or one); finance sees its own account only."""
    if caller.account_id is not None:
        account_id = owned(caller, account_id or caller.account_id)
    if account_id is not None:
        ledger.get_account(account_id)
    return services.queries.reconciliation(period, account_id)
