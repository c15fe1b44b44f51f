"""An account's block list: one list for every product; a blocked number gets 405."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response, status

from smsledger.api.deps import AuthFirstRoute, LedgerDep, allow, answer_position, owned
from smsledger.api.errors import not_found, problems
from smsledger.api.present import blocklist_public
from smsledger.api.schemas import BlockCreate, BlocklistPublic
from smsledger.domain.access import Principal

router = APIRouter(
    prefix="/v1/accounts/{account_id}/blocklist", tags=["blocklist"], route_class=AuthFirstRoute
)

Editor = Annotated[Principal, allow("operator", "admin")]
Reader = Annotated[Principal, allow("operator", "admin", "support")]


@router.get("", response_model=BlocklistPublic, responses=problems(401, 403, 404, 503))
def read_blocklist(account_id: UUID, ledger: LedgerDep, caller: Reader) -> dict[str, object]:
    return blocklist_public(ledger.get_account(owned(caller, account_id)))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BlocklistPublic,
    responses={
        200: {"model": BlocklistPublic, "description": "Already on the list"},
        **problems(401, 403, 404, 409, 413, 503),
    },
)
def block_number(
    account_id: UUID, body: BlockCreate, ledger: LedgerDep, response: Response, caller: Editor
) -> dict[str, object]:
    owned(caller, account_id)
    written = ledger.block_number(account_id, body.msisdn, "manual")
    if written.position is None:
        response.status_code = status.HTTP_200_OK
    answer_position(response, ledger, written.position)
    return blocklist_public(ledger.get_account(account_id))


@router.delete(
    "/{msisdn}", response_model=BlocklistPublic, responses=problems(401, 403, 404, 409, 503)
)
def unblock_number(
    account_id: UUID,
    msisdn: Annotated[str, Path(max_length=64)],
    ledger: LedgerDep,
    response: Response,
    caller: Editor,
) -> dict[str, object]:
    owned(caller, account_id)
    written = ledger.unblock_number(account_id, msisdn)
    if not written.value:
        ledger.get_account(account_id)  # an unknown account is "no such account"
        raise not_found("that number is not on the block list")
    answer_position(response, ledger, written.position)
    return blocklist_public(ledger.get_account(account_id))
