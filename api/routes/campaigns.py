"""An account's campaigns: a US or Canadian recipient needs an active one (else 403)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status

from smsledger.api.deps import AuthFirstRoute, LedgerDep, allow, answer_position, owned
from smsledger.api.errors import problems
from smsledger.api.present import campaigns_public
from smsledger.api.schemas import CampaignCreate, CampaignsPublic
from smsledger.domain.access import Principal

router = APIRouter(
    prefix="/v1/accounts/{account_id}/campaigns", tags=["campaigns"], route_class=AuthFirstRoute
)

Booker = Annotated[Principal, allow("operator")]
Reader = Annotated[Principal, allow("operator", "admin")]


@router.get("", response_model=CampaignsPublic, responses=problems(401, 403, 404, 503))
def read_campaigns(account_id: UUID, ledger: LedgerDep, caller: Reader) -> dict[str, object]:
    return campaigns_public(ledger.get_account(owned(caller, account_id)), ledger.now())


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignsPublic,
    responses={
        200: {"model": CampaignsPublic, "description": "This reference was booked before"},
        **problems(401, 403, 404, 409, 413, 503),
    },
)
def book_campaign(
    account_id: UUID,
    body: CampaignCreate,
    ledger: LedgerDep,
    response: Response,
    caller: Booker,
) -> dict[str, object]:
    """Book a campaign (the operator, once the carrier has registered it). The answer is
    the account's campaigns; the same reference with the same terms again is 200."""
    owned(caller, account_id)
    written = ledger.book_campaign(account_id, body.country, body.reference, body.valid_until)
    account, booked = written.value
    if not booked:
        response.status_code = status.HTTP_200_OK
    answer_position(response, ledger, written.position)
    return campaigns_public(account, ledger.now())
