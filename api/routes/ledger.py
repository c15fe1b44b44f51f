"""An account's ledger: every movement of its money, in order, a page at a time."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from smsledger.api.deps import LedgerDep, MinPosition, ServicesDep, allow, owned
from smsledger.api.errors import problems
from smsledger.api.schemas import DIGITS, MAX_PAGE, Cursor, LedgerPage, Period
from smsledger.domain.access import Principal

router = APIRouter(prefix="/v1/accounts/{account_id}/ledger", tags=["ledger"])

Reader = Annotated[Principal, allow("finance", "admin", "operator")]


# ``message_id`` and ``reference`` appear only on the entries that have them.
@router.get(
    "",
    response_model=LedgerPage,
    response_model_exclude_unset=True,
    dependencies=[MinPosition],
    responses=problems(401, 403, 404, 503),
)
def read_ledger(
    account_id: UUID,
    services: ServicesDep,
    ledger: LedgerDep,
    caller: Reader,
    period: Annotated[
        Period | None, Query(description="YYYY-MM in the account's time zone")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, Any]:
    ledger.get_account(owned(caller, account_id))  # 404 for an unknown account
    entries, next_cursor = services.queries.ledger(account_id, period, limit, cursor)
    return {"entries": entries, "next_cursor": next_cursor}
