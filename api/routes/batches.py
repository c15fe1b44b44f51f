"""One batch: what was submitted, and where its messages are now."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from smsledger.api.deps import MinPosition, ServicesDep, allow, scope_of
from smsledger.api.errors import problems
from smsledger.api.schemas import DIGITS, MAX_PAGE, BatchDetail, Cursor
from smsledger.domain.access import Principal
from smsledger.domain.status import status

router = APIRouter(prefix="/v1/batches", tags=["messages"])

# Whoever may read the batch's messages may read the batch.
Reader = Annotated[Principal, allow("operator", "admin", "sender", "support")]


@router.get(
    "/{batch_id}",
    response_model=BatchDetail,
    dependencies=[MinPosition],
    responses=problems(401, 403, 404, 503),
)
def read_batch(
    batch_id: UUID,
    services: ServicesDep,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, Any]:
    """The batch as submitted (reference, total), how many of its messages are at each
    status now, and its messages a page at a time (``cursor`` pages them)."""
    batch = services.ledger.get_batch(batch_id, scope_of(caller))
    queries = services.queries
    items, next_cursor = queries.messages(batch.account_id, {"batch_id": batch_id}, limit, cursor)
    counts = queries.batch_status_counts(batch_id)
    return {
        "id": batch.id,
        "account_id": batch.account_id,
        "reference": batch.reference,
        "created_at": batch.created_on,
        "total_price": batch.total_price,
        "currency": batch.currency,
        "recipients": len(batch.lines),
        "statuses": [{**status(code).as_dict(), "count": n} for code, n in sorted(counts.items())],
        "items": items,
        "next_cursor": next_cursor,
    }
