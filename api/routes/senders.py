"""Verified sender names: a protected name (a bank's, an authority's) is 403 unless the
operator has verified it for the account."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response, status

from smsledger.api.deps import AuthFirstRoute, LedgerDep, allow, answer_position, owned
from smsledger.api.errors import not_found, problems
from smsledger.api.present import senders_public
from smsledger.api.schemas import SenderCreate, SendersPublic
from smsledger.domain.access import Principal
from smsledger.domain.account import MAX_SENDER_NAME_LENGTH

router = APIRouter(
    prefix="/v1/accounts/{account_id}/senders", tags=["senders"], route_class=AuthFirstRoute
)

Verifier = Annotated[Principal, allow("operator")]
Reader = Annotated[Principal, allow("operator", "admin")]


@router.get("", response_model=SendersPublic, responses=problems(401, 403, 404, 503))
def read_senders(account_id: UUID, ledger: LedgerDep, caller: Reader) -> dict[str, object]:
    return senders_public(ledger.get_account(owned(caller, account_id)))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SendersPublic,
    responses={
        200: {"model": SendersPublic, "description": "Already verified"},
        **problems(401, 403, 404, 409, 413, 503),
    },
)
def verify_sender(
    account_id: UUID, body: SenderCreate, ledger: LedgerDep, response: Response, caller: Verifier
) -> dict[str, object]:
    """Verify a sender name for the account (the operator, having checked that the
    account owns it)."""
    owned(caller, account_id)
    written = ledger.verify_sender(account_id, body.sender)
    account, added = written.value
    if not added:
        response.status_code = status.HTTP_200_OK
    answer_position(response, ledger, written.position)
    return senders_public(account)


@router.delete(
    "/{sender}", response_model=SendersPublic, responses=problems(401, 403, 404, 409, 503)
)
def unverify_sender(
    account_id: UUID,
    sender: Annotated[str, Path(max_length=MAX_SENDER_NAME_LENGTH)],
    ledger: LedgerDep,
    response: Response,
    caller: Verifier,
) -> dict[str, object]:
    owned(caller, account_id)
    written = ledger.unverify_sender(account_id, sender)
    account, removed = written.value
    if not removed:
        raise not_found("that sender name is not verified for the account")
    answer_position(response, ledger, written.position)
    return senders_public(account)
