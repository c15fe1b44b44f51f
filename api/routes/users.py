"""An account's people: the admin (or the operator) invites users with a role; each
sets their own password from the link mailed to them."""

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
from smsledger.api.schemas import (
    DIGITS,
    MAX_PAGE,
    Cursor,
    UserCreate,
    UserPage,
    UserPublic,
    UserUpdate,
)
from smsledger.domain.access import Principal
from smsledger.domain.users import User

router = APIRouter(
    prefix="/v1/accounts/{account_id}/users", tags=["users"], route_class=AuthFirstRoute
)

Manager = Annotated[Principal, allow("operator", "admin")]


def user_public(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "account_id": user.account_id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "state": user.state,
    }


@router.get(
    "", response_model=UserPage, dependencies=[MinPosition], responses=problems(401, 403, 404, 503)
)
def list_users(
    account_id: UUID,
    services: ServicesDep,
    caller: Manager,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, Any]:
    services.ledger.get_account(owned(caller, account_id))
    items, next_cursor = services.queries.users(account_id, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=problems(401, 403, 404, 409, 413, 503),
)
def invite_user(
    account_id: UUID, body: UserCreate, services: ServicesDep, response: Response, caller: Manager
) -> dict[str, Any]:
    """Invite a user: they get an e-mail with a one-time link (72 hours) to set their
    password. 409 if the address is already a user's, of this or another account."""
    owned(caller, account_id)
    written = services.people.invite(account_id, body.email, body.name, body.role)
    answer_position(response, services.ledger, written.position)
    return user_public(written.value)


@router.get("/{user_id}", response_model=UserPublic, responses=problems(401, 403, 404, 503))
def read_user(
    account_id: UUID, user_id: UUID, services: ServicesDep, caller: Manager
) -> dict[str, Any]:
    return user_public(services.ledger.get_user(user_id, owned(caller, account_id)))


@router.patch(
    "/{user_id}", response_model=UserPublic, responses=problems(401, 403, 404, 409, 413, 503)
)
def change_user(
    account_id: UUID,
    user_id: UUID,
    body: UserUpdate,
    services: ServicesDep,
    response: Response,
    caller: Manager,
) -> dict[str, Any]:
    """Rename, change the role, or set `state` to `disabled` (or back to `active`). A
    new role or a disabled user ends that user's sessions at once."""
    services.ledger.get_user(user_id, owned(caller, account_id))
    written = services.people.change(user_id, body.name, body.role, body.state)
    answer_position(response, services.ledger, written.position)
    return user_public(written.value)


@router.delete("/{user_id}", response_model=UserPublic, responses=problems(401, 403, 404, 503))
def disable_user(
    account_id: UUID, user_id: UUID, services: ServicesDep, response: Response, caller: Manager
) -> dict[str, Any]:
    """Disable the user (the record stays, for the audit); their sessions end at once."""
    services.ledger.get_user(user_id, owned(caller, account_id))
    written = services.people.change(user_id, None, None, "disabled")
    answer_position(response, services.ledger, written.position)
    return user_public(written.value)


@router.post(
    "/{user_id}/invitation",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=problems(401, 403, 404, 409, 503),
)
def resend_invitation(
    account_id: UUID, user_id: UUID, services: ServicesDep, caller: Manager
) -> Response:
    """Mail an invited user a new link (the previous one stops working)."""
    user = services.ledger.get_user(user_id, owned(caller, account_id))
    services.people.resend_invitation(user)
    return Response(status_code=status.HTTP_202_ACCEPTED)
