"""An account's API keys: issue one per role, revoke at once."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from smsledger.api.deps import AuthFirstRoute, ServicesDep, allow, answer_position, owned
from smsledger.api.errors import not_found, problems
from smsledger.api.schemas import DIGITS, MAX_PAGE, Cursor, KeyCreate, KeyPage, KeyPublic
from smsledger.domain.access import Principal

router = APIRouter(
    prefix="/v1/accounts/{account_id}/keys", tags=["keys"], route_class=AuthFirstRoute
)

OperatorOrAdmin = Annotated[Principal, allow("operator", "admin")]


@router.get("", response_model=KeyPage, responses=problems(401, 403, 404, 503))
def list_keys(
    account_id: UUID,
    services: ServicesDep,
    caller: OperatorOrAdmin,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, object]:
    """The account's keys, oldest first, revoked ones with the time they stopped working;
    never a key's secret."""
    services.ledger.get_account(owned(caller, account_id))
    items, next_cursor = services.keys.list_keys(account_id, limit, cursor)
    return {"items": [k._asdict() for k in items], "next_cursor": next_cursor}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyPublic,
    responses=problems(401, 403, 404, 413, 503),
)
def issue_key(
    account_id: UUID,
    body: KeyCreate,
    services: ServicesDep,
    response: Response,
    caller: OperatorOrAdmin,
) -> dict[str, object]:
    """A new key for one account role; the key itself is shown only this once."""
    services.ledger.get_account(owned(caller, account_id))  # 404 for an unknown account
    key = services.keys.issue(body.role, account_id, services.clock())
    answer_position(response, services.ledger, None)
    return {"id": key.id, "role": key.role, "key": key.key}


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(401, 403, 404, 503),
)
def revoke_key(
    account_id: UUID,
    key_id: UUID,
    services: ServicesDep,
    caller: OperatorOrAdmin,
) -> Response:
    """Revoke a key: it stops working at once, in every process."""
    owned(caller, account_id)
    key = services.keys.find(key_id)
    if key is None or key.account_id != account_id:
        raise not_found("no such key")
    services.keys.revoke(key_id, services.clock())
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    answer_position(response, services.ledger, None)
    return response
